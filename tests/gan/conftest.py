import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """The GAN tests train tiny networks: on a shared machine a second torch thread only adds hand-off cost."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
