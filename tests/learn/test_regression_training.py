"""Training a regression: 1 - CCC is a loss of the whole batch, so data-parallel workers add their shares'
moments before it (with its gradient) and two workers train the model one process trains (tested with two
gloo processes, the collectives Ray Train's workers use, without Ray, and a last batch of one item: one
worker's share empty); early stopping watches the validation CCC."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from serkit.learn.objectives import concordance, concordance_of_moments, moments

WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np, torch
    from serkit.core.settings import TrainSettings
    from serkit.learn.objectives import Regression
    from serkit.learn.trainer import Trainer

    rank, world, store, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if world > 1:
        torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((33, 6)).astype(np.float32)  # batches of 8: the last one has one item
    y = np.stack([x[:, 0] + 0.1 * x[:, 1], x[:, 2] - x[:, 3]], axis=1).astype(np.float32)
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 2)
    settings = TrainSettings(max_epochs=3, batch_size=8, precision="fp32", learning_rate=1e-2, patience=9)
    trainer = Trainer(settings, torch.device("cpu"), 0, shard=(rank, world), objective=Regression("ccc"))
    result = trainer.fit(model, x, y, x[:10], y[:10])
    if rank == 0:
        torch.save({"weights": [p.detach() for p in result.model.parameters()],
                    "losses": [row["train_loss"] for row in result.history]}, out)
    if world > 1:  # both ranks reach the end before either tears gloo down (else the peer may abort)
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    """
)


def test_the_ccc_of_moments_is_the_ccc():
    rng = np.random.default_rng(1)
    p, t = (torch.from_numpy(rng.standard_normal((40, 3))).float() for _ in range(2))
    added = moments(p[:17], t[:17]) + moments(p[17:], t[17:])  # two workers' shares
    assert torch.allclose(concordance_of_moments(added), concordance(p, t), atol=1e-6)


def test_two_workers_train_a_ccc_loss_as_one_process_does(tmp_path):
    pytest.importorskip("torch.distributed", reason="torch was built without torch.distributed")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)

    def train(world: int) -> dict:
        out = tmp_path / f"world{world}.pt"
        store = tmp_path / f"store{world}"
        args = [[sys.executable, str(script), str(rank), str(world), str(store), str(out)] for rank in range(world)]
        workers = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for a in args]
        outputs = [w.communicate(timeout=300)[0] for w in workers]
        assert all(w.returncode == 0 for w in workers), outputs
        return torch.load(out, weights_only=True)

    one, two = train(1), train(2)
    for a, b in zip(one["weights"], two["weights"], strict=True):
        assert torch.allclose(a, b, atol=1e-5), (a, b)
    assert np.allclose(one["losses"], two["losses"], atol=1e-5)
    assert one["losses"][-1] < one["losses"][0]  # it trained


def test_a_regression_stops_early_on_validation_ccc_whatever_its_loss():
    """With an MSE loss the validation loss can still fall after the validation CCC has peaked: the kept epoch
    is the CCC's best (the field's selection), and a classification still watches its validation loss."""
    from serkit.core.settings import TrainSettings
    from serkit.learn.callbacks import EarlyStopping, FitState, Loop
    from serkit.learn.objectives import Regression
    from serkit.learn.trainer import Trainer

    trainer = Trainer(TrainSettings(patience=2), torch.device("cpu"), 0, objective=Regression("mse"))
    assert trainer.early_stopping.monitor == "val_ccc"
    assert Trainer(TrainSettings(), torch.device("cpu"), 0).early_stopping.monitor == "val_loss"
    model = torch.nn.Linear(2, 1)
    rows = [{"val_loss": 1.0, "val_ccc": 0.5}, {"val_loss": 0.8, "val_ccc": 0.7}, {"val_loss": 0.6, "val_ccc": 0.6}]
    for monitor, best in (("val_ccc", 2), ("val_loss", 3)):
        stopping, loop = (
            EarlyStopping(5, monitor=monitor),
            Loop(model, torch.optim.Adam(model.parameters()), FitState()),
        )
        for row in rows:
            loop.state.epoch += 1
            stopping.on_epoch_end(loop, row)
        assert loop.state.best_epoch == best
