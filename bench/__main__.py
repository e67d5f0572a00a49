"""Run every benchmark: `python -m bench`."""

from bench import analytics, bambu_parse, file_readers, ha_replay, job_history, prusa_requests

bambu_parse.main()
ha_replay.main()
prusa_requests.main()
job_history.main()
analytics.main()
file_readers.main()
