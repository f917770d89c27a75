"""``latal bench``: a paper's experiment from a protocol (TOML), run in parallel and resumably, reported
beside the published figures (results.json, summary.csv, report.md, curves.png)."""

from latal.bench.protocol import Arm, Protocol, ProtocolError, list_protocols, load_protocol
from latal.bench.report import write_report
from latal.bench.runner import run_protocol

__all__ = ["Arm", "Protocol", "ProtocolError", "list_protocols", "load_protocol", "run_protocol", "write_report"]
