"""What the bot does once it has started, so that a burst is not held up by the garbage
collector: what start-up made (modules, the application) is kept out of its full runs,
which would otherwise walk it all, holding the event loop 120-220 ms on a slow machine."""

from __future__ import annotations

import gc

from bot.runner import running_bot
from bot.services import Services
from sandbox import SandboxServer
from tests.e2e.conftest import TOKEN


async def test_what_start_up_made_is_kept_out_of_full_collections_while_the_bot_runs(
    services: Services, sandbox: SandboxServer
) -> None:
    assert gc.get_freeze_count() == 0
    async with running_bot(services, token=TOKEN, api_url=sandbox.url):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0, "a test process would keep every bot it ran"
