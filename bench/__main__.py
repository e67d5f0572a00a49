"""Run every benchmark: `python -m bench`."""

from bench import bambu_parse

bambu_parse.main()
