"""What the bot does before it takes its first update, so that a burst after a start is not
held up by work done once: every template compiled, and what start-up made kept out of the
garbage collector's full runs, which would otherwise walk it all, holding the event loop."""

from __future__ import annotations

import gc

from bot.runner import running_bot
from bot.services import Services
from messages.render import template_environment
from sandbox import SandboxServer
from tests.e2e.conftest import TOKEN


async def test_every_template_is_compiled_before_the_first_update(
    services: Services, sandbox: SandboxServer
) -> None:
    environment = template_environment()
    assert environment.cache is not None
    environment.cache.clear()  # as in a new process
    async with running_bot(services, token=TOKEN, api_url=sandbox.url):
        compiled = {name for _loader, name in environment.cache.keys()}
        assert set(environment.list_templates(extensions=["j2"])) <= compiled


async def test_what_start_up_made_is_kept_out_of_full_collections_while_the_bot_runs(
    services: Services, sandbox: SandboxServer
) -> None:
    assert gc.get_freeze_count() == 0
    async with running_bot(services, token=TOKEN, api_url=sandbox.url):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0, "a test process would keep every bot it ran"
