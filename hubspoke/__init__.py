"""HubSpoke's CLI and embedded local engine (moto, in-process)."""
