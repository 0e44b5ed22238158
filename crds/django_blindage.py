"""`blindage.org/v2` Django: the API of 21h's Django operator, of which only one README example is known.

The fields are those of that example, with the defaults it shows. Because other fields of the original API
are unknown, the spec keeps unknown fields (`x-kubernetes-preserve-unknown-fields`) instead of rejecting them
under strict field validation; the controller ignores what it does not know.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import MaxLen
from pydantic import Field

from crds.common import (
    ApiModel,
    Bool,
    Conditions,
    CustomResource,
    Int32,
    KindInfo,
    PrinterColumn,
    age_column,
    condition_column,
    conditions_field,
)

GROUP = "blindage.org"
VERSION = "v2"


class DjangoSpec(ApiModel):
    """A Django web application with optional migrations, static files and a media volume."""

    preserve_unknown_fields = True

    image: str = Field(min_length=1, description="Container image, with its tag.")
    replicas: Int32 = Field(default=1, ge=0, description="Number of web pods.")
    app_port: Int32 = Field(default=8000, ge=1, le=65535, description="Port the web container listens on.")
    app_envs: dict[str, str] | None = Field(default=None, description="Environment variables, name to value.")
    app_envs_secrets: list[str] | None = Field(
        default=None, description="Secrets whose keys become environment variables."
    )
    app_envs_configmaps: list[str] | None = Field(
        default=None, description="ConfigMaps whose keys become environment variables."
    )
    app_static_path: str = Field(
        default="/app/static", description="Directory collectstatic writes to, shared with the web container."
    )
    app_media_path: str = Field(
        default="/app/media", description="Directory of uploaded media, where persistentVolumeClaim is mounted."
    )
    run_migrate: Bool = Field(
        default=False, description="Run python manage.py migrate --noinput before each new image rolls out."
    )
    run_collect_static: Bool = Field(
        default=False, description="Run python manage.py collectstatic --noinput before each new image rolls out."
    )
    fixtures: Annotated[list[str], MaxLen(64)] | None = Field(
        default=None,
        description="Fixtures loaded with python manage.py loaddata, after migrate and collectstatic, before each "
        "new image rolls out.",
    )
    persistent_volume_claim: str | None = Field(
        default=None, description="Existing PersistentVolumeClaim mounted at appMediaPath."
    )


class DjangoStatus(ApiModel):
    """Rollout state."""

    conditions: Conditions | None = conditions_field("types Ready, Progressing and Degraded.")
    condition: str | None = Field(
        default=None, description="The status of the application: migrating, running or degraded."
    )
    ready_replicas: Int32 | None = Field(default=None, description="Ready web pods.")
    image: str | None = Field(default=None, description="Image being served.")
    migrated_image: str | None = Field(
        default=None, description="Last image whose migrate, collectstatic and loaddata commands succeeded."
    )


class Django(CustomResource):
    """A Django object."""

    spec: DjangoSpec = Field(description="Desired application.")
    status: DjangoStatus | None = Field(default=None, description="Observed application.")


DJANGO = KindInfo(
    group=GROUP,
    version=VERSION,
    kind="Django",
    plural="djangos",
    singular="django",
    scope="Namespaced",
    model=Django,
    origin="21h/django-operator",
    description="Django is a Django web application with optional migrations, collectstatic and a media volume.",
    printer_columns=(
        PrinterColumn("Image", "string", ".spec.image", "Container image."),
        PrinterColumn("Replicas", "integer", ".spec.replicas", "Desired web pods."),
        condition_column(),
        age_column(),
    ),
    builds="""\
- The same engine as `thismatters.github/v1alpha` (all children named after the Django, labelled
  `app.kubernetes.io/name: django`, `instance: <name>`, `component`, `version: <image tag>`).
- With `runMigrate` and/or `runCollectStatic`: Job `<name>-migrate-<hash>` (hash of image and commands) with one
  init container per step, `python manage.py migrate --noinput` then `python manage.py collectstatic --noinput`,
  same env, envFrom and volumes as the web pods; the web Deployment is built, or moves to a new image, only once
  that Job has succeeded (`migratedImage` records it); a failed Job keeps the previous image serving,
  `condition: degraded` and a Warning Event `MigrationFailed`. Deleting a failed Job retries it.
- Deployment `<name>-web` (`replicas` pods, container `app` on `appPort`, env from `appEnvs` in order, envFrom
  `appEnvsConfigmaps` then `appEnvsSecrets`, `persistentVolumeClaim` mounted at `appMediaPath`; pod annotation
  `tenantgate.io/config-hash` of the referenced ConfigMaps and Secrets, so changing one rolls the pods) and
  Service `<name>-web` on `appPort`. No Celery, hence no Redis, worker or beat.
- Status `condition` (`migrating` → `running` | `degraded`), `image`, `migratedImage`, `readyReplicas`,
  conditions `Ready`, `Progressing`, `Degraded`; Events `Migrating` "Enacting new config", `Ready` "New config
  running".
""",
)

KINDS = (DJANGO,)
