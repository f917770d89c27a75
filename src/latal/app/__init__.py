"""The labeling app: a person labels, in a browser, what the loop selects; SQLite keeps every label.

- :mod:`latal.app.store`: the project database (items, label events, batches, rounds)
- :mod:`latal.app.session`: the loop behind the page (leases, background retraining)
- :mod:`latal.app.server`: the Flask application and its server
- :mod:`latal.app.transfer`: export and import of labels
"""

from latal.app.session import LabelingSession, SessionSettings
from latal.app.store import LabelState, ProjectError, ProjectStore

__all__ = ["LabelingSession", "SessionSettings", "LabelState", "ProjectError", "ProjectStore"]
