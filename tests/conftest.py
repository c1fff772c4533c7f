"""Shared test settings: hypothesis profiles sized for CI's 2 cores."""
import os

from hypothesis import HealthCheck, settings

# Verify the IR after every pass (the default is once, after the last pass: cheaper
# compiles), so a broken rewrite fails the test that triggers it, naming the pass.
os.environ.setdefault("GRAPHC_VERIFY", "each")

settings.register_profile("ci", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("GRAPHC_HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--fuzz", type=int, default=None,
                     help="number of random programs for tests/test_fuzz.py (also GRAPHC_FUZZ; default 160)")
