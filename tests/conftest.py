import pytest

from ddim_edu.gmm import GaussianMixture
from ddim_edu.schedule import linear_schedule


@pytest.fixture(scope="session")
def schedule():
    return linear_schedule()


@pytest.fixture(scope="session")
def mixture():
    return GaussianMixture.example_2d()


@pytest.fixture(scope="session")
def eps_star(mixture, schedule):
    return mixture.eps_model(schedule)
