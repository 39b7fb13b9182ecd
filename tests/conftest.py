"""Shared test settings: one torch thread, because on small CPUs extra threads slow small ops."""

import torch

torch.set_num_threads(1)
