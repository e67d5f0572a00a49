"""The file manager, HA-free: printer files and their local copies (issue 14).

The HA glue uses only this surface:

- `model`: `FileKind`, `FileStatus`, `DownloadState`, `FailureReason` (stable codes),
  frozen `RemoteFile`, `FileEntry` (the merged view), `DownloadStatus`, `FileLimits`,
  `CleanupCandidate`, `CleanupResult`.
- `manager.FileManager(root, limits, executor=hass.async_add_executor_job)`: one per HA.
  `await start()` (cleans `.part` leftovers of a previous run, marks them failed) and
  `await stop()` (cancels everything); `add_printer(serial, source)` with the adapter's
  `FileSource` (`printers.base`), `await remove_printer(serial)`;
  `await list_files(serial, refresh=False)` -> `list[FileEntry]`; `await local_entries(serial)`;
  `invalidate(serial)` after a print ends; `await download(serial, folder, name)` -> id,
  `download_status(id)`, `downloads(serial)`, `await cancel(id)`;
  `add_listener(callback)` gets every `DownloadStatus` change (completed/failed included);
  `await cleanup_candidates(older_than_days, ...)`, `await cleanup(candidates, dry_run=True,
  on_printer=False)`; `await delete_remote(serial, folder, name)`;
  `await thumbnail(serial, folder, name)` (the kept local preview, else the printer's),
  `await local_thumbnail(path)` (a local copy's preview, for the media browser);
  `await usage(serial)` (bytes on disk).
- `errors`: `FileManagerError` subclasses carry `code` (a translation key) and placeholders.
- `names.safe_name`: the sanitizer for names coming from printers.

Local layout: `<root>/<serial>/<YYYY-MM>/<safe name>`, its preview as the hidden
`.<safe name>.cover` beside it, and `<root>/<serial>/.index.json`.
"""
