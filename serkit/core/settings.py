"""The recipe's settings sections: ``[run]``, ``[labels]``, ``[task]``, ``[augmentation]``, ``[normalise]``,
``[train]``, ``[calibrate]``, ``[report]``, ``[ray]``, ``[track]`` and ``[leaks]``."""

from __future__ import annotations

from dataclasses import dataclass

from serkit.core.params import param


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    name: str = param("run", "run name; the run folder is <output>/<name>-<timestamp>")
    seed: int = param(42, "seed for the split, augmentation and training", ge=0)
    repeats: int = param(1, "run the protocol this many times with seeds seed, seed+1, ...", ge=1)
    device: str = param("auto", "torch device: auto uses CUDA when present", choices=("auto", "cpu", "cuda"))
    output: str = param("runs", "folder that receives the run folders")
    cache_dir: str = param("", "feature cache folder; empty uses $SERKIT_CACHE or ~/.cache/serkit")
    workers: int = param(0, "parallel worker processes for the audio pipeline; 0 uses every core", ge=0)
    skip_unreadable: bool = param(False, "skip unreadable audio files (listed in the log) instead of stopping")
    executor: str = param(
        "local",
        "local: folds one after another in this process; ray: every (variant, repeat, fold) training as a Ray task "
        "(an execution setting: changing it never reruns a finished ablation variant)",
        choices=("local", "ray"),
    )
    plugin_checks: str = param(
        "error",
        "a plugin contract broken at run time (an augmenter drawing from the global random state): error stops "
        "the run naming the component; warn logs it once and goes on",
        choices=("error", "warn"),
    )
    threads: int = param(
        0, "torch threads per training (fold); 0: every core locally, ray.num_cpus (at least 1) on Ray", ge=0
    )


@dataclass(frozen=True, kw_only=True)
class AugmentationSettings:
    """How the ``[[augment]]`` entries (a policy: :mod:`serkit.core.policy`) make training examples."""

    mode: str = param(
        "copies",
        "copies: each [[augment]] entry adds one fixed copy of every training utterance, drawn once and cached "
        "(the paper's); online: every epoch each fit utterance passes through the entries in order, drawn anew "
        "(validation and test parts never; torch models)",
        choices=("copies", "online"),
    )
    loaders: int = param(
        0,
        "online: loader processes computing the next batches' examples while the model trains; 0: half the "
        "cores, at least 1 (an execution setting: the examples do not depend on it)",
        ge=0,
    )
    prefetch: int = param(4, "online: batches each loader process computes ahead of the trainer", ge=1)
    where: str = param(
        "auto",
        "online: where the examples are made. device: on the training device, a batch at a time (every entry, the "
        "re-applied preprocessors and the features need a torch implementation; noise then differs in its samples, "
        "not its distribution); loaders: in loader processes; auto: the device where everything has one, else "
        "the loaders (the run's log says which and why)",
        choices=("auto", "device", "loaders"),
    )


@dataclass(frozen=True, kw_only=True)
class NormaliseSettings:
    method: str = param(
        "zscore", "feature normalisation; statistics come from the training part only", choices=("zscore", "none")
    )
    scope: str = param(
        "band",
        "band: per frequency band (per dimension of a sequence or vector); global: one mean and deviation; "
        "speaker: per band, each speaker by its own statistics (test speakers' from their own unlabelled audio)",
        choices=("band", "global", "speaker"),
    )


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    max_epochs: int = param(100, "upper bound on training epochs", ge=1)
    batch_size: int = param(16, "mini-batch size", ge=1)
    learning_rate: float = param(1e-4, "Adam learning rate", gt=0)
    weight_decay: float = param(0.0, "Adam weight decay", ge=0)
    patience: int = param(10, "early stopping: epochs without a better validation loss (a regression: CCC)", ge=1)
    validation_size: float = param(0.1, "fraction of the training part held out for early stopping", gt=0, lt=1)
    precision: str = param(
        "auto",
        "autocast dtype of training (evaluation runs in float32). auto: bf16 on CPUs with bf16 instructions "
        "(AMX, AVX-512 BF16) and on CUDA GPUs that have it, fp16 on older GPUs, else fp32; bf16 runs on any CPU",
        choices=("auto", "fp32", "bf16", "fp16"),
    )
    class_weights: str = param(
        "none",
        "balanced: weight the loss (or a scikit-learn model's classes) by inverse training-class frequency",
        choices=("none", "balanced"),
    )
    sampler: str = param(
        "shuffle",
        "torch models: shuffle each epoch; balanced: draw batches with equal chance per class (with replacement); "
        "by_length: shuffle, then batch clips of similar unpadded length together (waveform features; with "
        "ssl_finetune's trim_padding, less work on padding); by_corpus: equal chance per corpus of a [[dataset]] "
        "union, so a large corpus does not drown a small one; by_corpus_class: equal chance per corpus and class",
        choices=("shuffle", "balanced", "by_length", "by_corpus", "by_corpus_class"),
    )
    keep_epoch_weights: bool = param(
        False, "torch models: keep every epoch's weights in the fold's folder, for serkit audit"
    )
    schedule: str = param(
        "constant",
        "learning rate over training: constant, or cosine: linear warm-up over warmup_epochs, then a cosine decay "
        "to zero at max_epochs (per optimiser step)",
        choices=("constant", "cosine"),
    )
    warmup_epochs: float = param(0.0, "epochs of linear learning-rate warm-up (schedule = cosine)", ge=0)
    accumulate: int = param(1, "torch models: mini-batches whose gradients are summed before each optimiser step", ge=1)
    refit: bool = param(
        False,
        "after early stopping, train again on the whole training part (validation included) for the best epoch "
        "count and test that model",
    )


@dataclass(frozen=True, kw_only=True)
class LabelsSettings:
    """Which classes a run uses, by what names: applied to every corpus the run reads (a cross-corpus test
    corpus too), before the split."""

    map: str = param(
        "",
        "a label map putting the corpus's labels on a shared set (serkit plugins lists them: basic, ekman, "
        "four-class, ...); labels it leaves out are dropped and named in one warning; empty: the corpus's own labels",
    )
    keep: list[str] = param([], "classes to keep (after the map), in this order; empty keeps every class")


@dataclass(frozen=True, kw_only=True)
class TaskSettings:
    """What the model predicts: the emotion class, or dimensional values (arousal, valence, dominance)."""

    kind: str = param(
        "classification",
        "classification: the emotion class; regression: the values of targets (e.g. arousal, valence, dominance), "
        "scored by the concordance correlation coefficient (CCC); joint: both from one torch model (a class head "
        "and a regression head over the same encoder)",
        choices=("classification", "regression", "joint"),
    )
    targets: list[str] = param(
        [],
        "regression and joint: the utterance metadata columns to predict (the dataset's, e.g. arousal, valence, "
        "dominance)",
    )
    loss: str = param(
        "ccc",
        "regression loss of torch models: ccc (1 - CCC, averaged over the targets) or mse (mean squared error)",
        choices=("ccc", "mse"),
    )
    weights: list[float] = param(
        [1.0, 1.0],
        "joint: the weights of the class head's cross-entropy and of the regression head's loss (1 - CCC or MSE) "
        "in the training loss and in the validation loss early stopping watches",
    )
    rescale: str = param(
        "none",
        "regression: declared maps each corpus's targets linearly from its documented scale (IEMOCAP 1-5, "
        "MSP-Podcast 1-7, the synthetic corpus -1 to 1, a manifest's scale) onto -1 to 1, so corpora of different "
        "scales train and score together (CCC is scale-sensitive); stated in the report",
        choices=("none", "declared"),
    )


@dataclass(frozen=True, kw_only=True)
class CalibrateSettings:
    """Calibration of the model's probabilities, fitted on each fold's validation part (never the test part)."""

    method: str = param(
        "none",
        "temperature: one temperature dividing the model's log-probabilities (a torch model's logits), any model; "
        "sigmoid or isotonic: scikit-learn's CalibratedClassifierCV around a fitted scikit-learn model. Kept in the "
        "model, so predict gives calibrated probabilities; needs the validation part (not with train.refit)",
        choices=("none", "temperature", "sigmoid", "isotonic"),
    )


@dataclass(frozen=True, kw_only=True)
class ReportSettings:
    """What the report breaks the results down by (reporting only: never changes a result)."""

    groups: list[str] = param(
        ["gender"],
        "utterance metadata (manifest columns) to report results per group of, with bootstrap intervals and the "
        "gap; a column some test utterance lacks is named in the report",
    )
    split_audit: bool = param(
        True,
        "compare every utterance with every other for near-identical audio across parts (the split audit's costliest "
        "check; false leaves it out, and the report and metrics.json say so)",
    )
    explain: bool = param(
        True,
        "what the features say, on each fold's validation part: permutation importance of vector features (costs "
        "dimensions x 5 predictions of the validation part per fold), an occlusion map of image features",
    )


@dataclass(frozen=True, kw_only=True)
class RaySettings:
    """Where and how Ray runs the trainings when ``run.executor = "ray"``: execution settings, but for
    ``train_workers``, which changes the trained model."""

    address: str = param(
        "", "empty: start a local Ray instance; auto or ray://host:port: join a cluster started with ray start --head"
    )
    num_cpus: float = param(1.0, "CPUs each training (fold) reserves", gt=0)
    num_gpus: float = param(0.0, "GPUs each training reserves; fractions let several small models share one", ge=0)
    feature_batch: int = param(64, "files per Ray task when features are computed on the cluster", ge=1)
    train_workers: int = param(
        1,
        "torch models: workers one training is spread over with Ray Train (data parallel: each takes a share of "
        "every batch, gradients averaged; gloo on CPUs, NCCL on GPUs), restarted from the fold's checkpoint when "
        "one dies; 1: one process",
        ge=1,
    )


@dataclass(frozen=True, kw_only=True)
class TrackSettings:
    """Experiment tracking (execution settings only: tracking never changes a result)."""

    backend: str = param(
        "none", "mlflow: log the run to MLflow (pip install 'serkit[mlflow]')", choices=("none", "mlflow")
    )
    uri: str = param(
        "", "MLflow tracking URI; empty: $MLFLOW_TRACKING_URI where set, else sqlite:///<run.output>/mlflow.db"
    )
    experiment: str = param("", "MLflow experiment; empty: the run's name (an ablation's: the sweep's name)")
    timeout_s: float = param(10.0, "longest wait for one tracking call; a failure or timeout turns tracking off", gt=0)


@dataclass(frozen=True, kw_only=True)
class LeakSettings:
    """Deliberate leaks, for measuring how much each inflates a result (``serkit leaks``): a run with any of
    them says in every report that its figures are not results."""

    augment_before_split: bool = param(
        False,
        "copies of each test utterance (one per [[augment]] entry) join the fit part, as augmenting the corpus "
        "before a random split puts most test utterances' copies in training (copies mode)",
    )
    normalise_on_all: bool = param(False, "fit the z-score on every part, the test part included")
    select_on_test: bool = param(
        False,
        "early stopping watches the test part instead of the validation part, so the test part chooses the epoch; "
        "with train.refit, the whole training part trains for the epoch count the test part chose (torch models)",
    )
    speaker_dependent_split: bool = param(
        False, "marks a run whose protocol puts the same speakers on both sides where the corpus allows otherwise"
    )

    def words(self, refit: bool = False) -> list[str]:
        """Each leak the run has, in words (none: an honest run)."""
        found = []
        if self.augment_before_split:
            found.append(
                "augmented copies of the test utterances were in the training data (augmenting before the split)"
            )
        if self.normalise_on_all:
            found.append("the normalisation was fitted on all data, the test part included")
        if self.select_on_test and refit:
            found.append(
                "trained without a validation part for the epoch count the test part chose (early stopping on the "
                "test part, then a refit on the whole training part)"
            )
        elif self.select_on_test:
            found.append("the epoch was chosen on the test part (early stopping watched the test part)")
        if self.speaker_dependent_split:
            found.append("a speaker-dependent split of a corpus that allows a speaker-independent one")
        return found


#: Keys that say how a run is executed, not what it computes: they never change a result's identity.
#: ``ray.train_workers`` is not one: each worker's batch norm sees its share of a batch and the workers'
#: dropout masks are drawn alike, so the worker count changes the trained model.
EXECUTION_KEYS = {
    "run": ("executor", "workers", "plugin_checks"),
    "ray": ("address", "num_cpus", "num_gpus", "feature_batch"),
    "track": ("backend", "uri", "experiment", "timeout_s"),
    "report": ("groups", "explain", "split_audit"),
    "augmentation": ("loaders", "prefetch"),
}
