"""kubeOP's App mutator: mark Apps as managed by the admission webhook.

kubeOP's `/mutate` adds `app.kubeop.io/managed-by: kubeop-admission` when the label is missing; tools and
kubeOP's end-to-end test look for that exact value, so tenantgate keeps it. A label the user set
(even to another value) is kept.
"""

from __future__ import annotations

from typing import Final

from admission.context import RequestContext
from admission.patch import PatchRecorder
from admission.protocol import AdmissionRequest
from admission.verdict import Verdict, allowed, patched

MANAGED_BY_LABEL: Final = "app.kubeop.io/managed-by"
MANAGED_BY_VALUE: Final = "kubeop-admission"


def label_managed_by(request: AdmissionRequest, ctx: RequestContext) -> Verdict:
    if request.object is None:
        return allowed()
    recorder = PatchRecorder(request.object)
    recorder.ensure_label(MANAGED_BY_LABEL, MANAGED_BY_VALUE)
    return patched(recorder)
