"""The job paths of the release before the layered layout, kept importable for one release.

RQ stores a job's function by dotted path, so jobs already in Redis when the hub is upgraded
still name ``hub.jobs.process_inbox_events`` and ``hub.jobs.dispatch_outbox_items``; a new
worker runs them through these aliases. New jobs name ``hub.runtime.jobs`` (see
``hub.pipeline.queue.JOB_FUNCTIONS``). Remove this module in the release after next; by then the
reconciler has re-enqueued anything older under the new paths.
"""

from __future__ import annotations

from hub.runtime.jobs import dispatch_outbox_items, process_inbox_events

__all__ = ["dispatch_outbox_items", "process_inbox_events"]
