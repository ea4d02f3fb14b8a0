"""Feature views and services of propensity, generated from the feature catalog of the workspace in
$PROPENSITY_WORKDIR (its categories come from the raw `categories` table). Run `propensity features apply`."""

from propensity.features.definitions import Definitions, customer
from propensity.features.schemas import SCORES_VIEW

_defs = Definitions.for_workspace()
_views = _defs.views()  # one per catalog view
# `feast apply` registers the Feast objects among this module's attributes: each view under its own name, with
# the models' scores (written by `propensity score`)
globals().update({**_views, SCORES_VIEW: _defs.scores_view()})
training_service = _defs.training_service(list(_views.values()))
online_service = _defs.online_service(list(_views.values()))

__all__ = ["customer"]
