"""The companion controller: watches, a keyed work queue, reconcilers, server-side apply, status and Events."""
