"""Powertools Logger, Tracer and Metrics, created once for every function."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "hubspoke"
# The stack sets POWERTOOLS_METRICS_NAMESPACE; the default keeps metrics valid wherever the module is imported.
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "HubSpoke")

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)
