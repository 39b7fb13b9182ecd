"""``ltrnn jobs``, ``ltrnn watch`` and ``ltrnn cancel``: list, follow and stop jobs."""

from __future__ import annotations

import argparse
import time

from . import _common
from ._common import add_connection_options, add_json_option, add_progress_option, positive_int

STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")


def register(subparsers) -> None:
    """Add the ``jobs``, ``watch`` and ``cancel`` commands."""
    parser = subparsers.add_parser(
        "jobs", help="list jobs, newest first",
        description="List the server's jobs, newest first, with their cell counts.",
    )
    parser.add_argument("--state", choices=STATES, default=None,
                        help="list only jobs in this state (default: every state)")
    parser.add_argument("--limit", type=positive_int, default=20, metavar="N",
                        help="maximum number of jobs to list (default: 20)")
    add_json_option(parser)
    add_connection_options(parser)
    parser.set_defaults(handler=_common.user_errors("jobs")(run_jobs))

    parser = subparsers.add_parser(
        "watch", help="follow a job until it ends",
        description="Show a job's progress until it ends; the exit status is 0 only when it "
        "succeeded. With an embedded server this also resumes the job's unfinished cells.",
    )
    parser.add_argument("job_id", metavar="JOB", help="job id (from 'ltrnn jobs')")
    add_progress_option(parser)
    add_connection_options(parser)
    parser.set_defaults(handler=_common.user_errors("watch")(run_watch))

    parser = subparsers.add_parser(
        "cancel", help="cancel a job",
        description="Cancel a job: pending cells never start and running cells stop at "
        "their next progress report.",
    )
    parser.add_argument("job_id", metavar="JOB", help="job id (from 'ltrnn jobs')")
    add_connection_options(parser)
    parser.set_defaults(handler=_common.user_errors("cancel")(run_cancel))


def _created(job) -> str:
    seconds = job.message.create_time.seconds
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"


def run_jobs(args: argparse.Namespace) -> int:
    with _common.stdout_for_results(args.json), _common.open_client(args) as client:
        jobs = client.jobs(state=args.state, limit=args.limit)
    if args.json:
        _common.print_json([
            {"job_id": job.id, "kind": job.kind, "state": job.state, "created": _created(job),
             "cells": job.cell_counts, "name": job.message.sweep.name, "error": job.error}
            for job in jobs
        ])
        return 0
    if not jobs:
        print("no jobs")
        return 0
    print(f"{'job':<32}  {'kind':<11} {'state':<9} {'cells ok/all':>12}  {'created':<19}  name")
    for job in jobs:
        counts = f"{job.cell_counts['succeeded']}/{job.cell_counts['total']}"
        print(f"{job.id:<32}  {job.kind:<11} {job.state:<9} {counts:>12}  {_created(job):<19}  "
              f"{job.message.sweep.name}")
    return 0


def run_watch(args: argparse.Namespace) -> int:
    with _common.open_client(args) as client:
        job = client.job(args.job_id).watch(progress=args.progress)
        print(f"job {job.id}: {job.state}" + (f": {job.error}" if job.error else ""))
        if job.kind == "sweep" and job.cell_counts["succeeded"]:
            result = client.sweep_result(job.id)
            print(result.format_table())
            print(f"chosen rank: {result.chosen_rank}")
            print(f"rule: {result.rule}")
    return 0 if job.state == "SUCCEEDED" else _common.EXIT_FAILED


def run_cancel(args: argparse.Namespace) -> int:
    with _common.open_client(args) as client:
        job = client.cancel(args.job_id)
    counts = job.cell_counts
    print(f"job {job.id}: {job.state} ({counts['cancelled']} cells cancelled, "
          f"{counts['succeeded']} succeeded before)")
    return 0
