"""A person's data, one contract for every per-person feature.

- `records`: one typed record per feature (`<prefix>/<person id>.json`), read and written by one
  mechanism (msgspec), with one vocabulary: load, create, save (always under a generation
  precondition), update, upsert, people, delete.
- `grants`: the sealed Spotify grant a record keeps: opened for a piece of work, a rotated
  refresh token kept only if the stored one is still the one the work read, and one set of
  reasons for a pause, worded the same on every page.
- `deletion`: deletion is a protocol. Each feature registers what it keeps; a delete writes a
  tombstone first, every writer checks it after writing and finishes the deletion if it came
  meanwhile, and the delete sweeps after.
"""
