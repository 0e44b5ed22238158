"""The tenancy domain shared by admission and the reconcilers."""
