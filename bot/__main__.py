"""`python -m bot` is the `trialbot` command."""

from bot.cli import main

main()
