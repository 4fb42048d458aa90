"""The read side: read models folded from the log, their runner, rebuilds and as-of replay.

The service holds one `Projections` (see `projections.facade`).
"""

from projections.delegation_view import Delegation
from projections.facade import Projections
from projections.owner_view import OwnerSummary
from projections.partnership_view import Partnership

__all__ = ["Delegation", "OwnerSummary", "Partnership", "Projections"]
