"""Run every benchmark: `python -m bench`."""

from bench import (
    analytics,
    bambu_parse,
    file_readers,
    files,
    fleet,
    ha_replay,
    job_history,
    prusa_requests,
    whole_process,
)

bambu_parse.main()
ha_replay.main()
whole_process.main([])
prusa_requests.main()
job_history.main()
analytics.main()
file_readers.main()
files.main([])
fleet.main([])
