"""What the webhook process loads: a CEL engine it does not use on the admitted path is not imported at start-up.

The CEL package also loads an interactive shell (~12 MiB of resident memory and about a second of start-up);
the webhook evaluates CEL only to word a refusal as the API server does (`crds.structural`), so it imports it then.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

START_UP = """
import sys
import webhook.cli
from admission.rules import build_registries
build_registries()
print(sorted(name for name in ("cel", "prompt_toolkit") if name in sys.modules))
"""


def test_the_webhook_starts_without_the_cel_engine() -> None:
    result = subprocess.run([sys.executable, "-c", START_UP], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_refusal_worded_by_the_schema_loads_it_on_demand() -> None:
    from crds.registry import by_api_version
    from crds.structural import validate

    info = by_api_version("paas.kubeop.io/v1alpha1", "Tenant")
    assert info is not None
    errors = validate(info, {"apiVersion": info.api_version, "kind": "Tenant", "metadata": {"name": "t"}, "spec": {}})
    assert "cel" in sys.modules
    assert any(error.stage == "cel" for error in errors)
