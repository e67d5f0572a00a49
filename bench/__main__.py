"""Run every benchmark: `python -m bench`."""

from bench import bambu_parse, ha_replay, prusa_requests

bambu_parse.main()
ha_replay.main()
prusa_requests.main()
