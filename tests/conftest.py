import pytest
import torch

from ddim_edu.gmm import GaussianMixture
from ddim_edu.schedule import linear_schedule


@pytest.fixture(autouse=True)
def _seeded_global_rng():
    """Every test starts from the same global random state, so a draw without a generator of its
    own (a shape check's input, say) is the same on every run and in every order of the tests."""
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def schedule():
    return linear_schedule()


@pytest.fixture(scope="session")
def mixture():
    return GaussianMixture.example_2d()


@pytest.fixture(scope="session")
def eps_star(mixture, schedule):
    return mixture.eps_model(schedule)


# Whole files whose tests start processes (torchrun, a browser, notebook kernels) are slow;
# single slow tests elsewhere carry @pytest.mark.slow. `make test-fast` deselects them all.
SLOW_FILES = {"test_browser.py", "test_classroom.py", "test_distributed.py", "test_notebooks.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
