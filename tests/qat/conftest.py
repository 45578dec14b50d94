import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Small models on a shared machine: more threads only contend."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
