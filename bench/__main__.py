"""Run every benchmark: `python -m bench`."""

from bench import bambu_parse, ha_replay

bambu_parse.main()
ha_replay.main()
