"""`python -m bot` is the `trialbot` command."""

from bot.cli import main

if __name__ == "__main__":  # not again in a process it spawns (messages/charts.py)
    main()
