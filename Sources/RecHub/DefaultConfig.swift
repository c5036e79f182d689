/// The built-in default job (`rechub train` without `--config`), identical to
/// `Configs/default.yaml` (a test keeps the two equal): the tutorial's MMoE on generated
/// Ali-CCP-shaped data.
public let defaultConfigYAML = """
# RecHub default job: the tutorial's MMoE on generated Ali-CCP-shaped data.
# `rechub train` without --config runs exactly this file's settings.
model: mmoe
seed: 2022
data:
  generate:
    rows: 1000000
    val_rows: 100000
    test_rows: 100000
    seed: 7
    scale: 0.1
    dir: runs/data/default
  labels: [click, purchase]
embedding_dim: 16
expert_units: [256, 128]
num_experts: 8
tower_units: [64, 32]
learning_rate: 0.001
batch_size: 1024
epochs: 1
output_dir: runs/default

"""
