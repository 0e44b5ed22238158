"""The reconcilers, one module per kind: each `setup(manager)` declares its informers, watches and controller.

The package itself imports none of them, so a reconciler importing a sibling (`tenancy`, `app_hooks`) never
loads the others; `controller.cli.RECONCILERS` names the ones `tenantgate controller` can run.
"""
