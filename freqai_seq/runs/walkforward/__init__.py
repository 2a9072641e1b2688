"""The walk-forward split into worker processes or a Dask cluster: plan, work folders, local and
cluster runs, and the worker each batch runs in."""
