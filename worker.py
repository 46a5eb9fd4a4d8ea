"""Thin entry point: an RQ worker over the hub's queues (same as ``partnerhub worker``)."""

from hub.cli.main import main

if __name__ == "__main__":
    main(["worker"])
