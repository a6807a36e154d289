"""Several hotfn servers behind nginx on one PostgreSQL (docs/scale-out.md).

``nginx_conf`` renders the nginx configuration that routes calls by function;
``local`` starts and stops such a cluster on this machine (``scripts/cluster``).
"""
