import torch

# Test tensors are small: one thread avoids OpenMP spin-waiting when other processes share the cores.
torch.set_num_threads(1)
