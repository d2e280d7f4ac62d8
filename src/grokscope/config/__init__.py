"""What a run is: the typed config tree (``core``), the task and model sections (``sections``), named
presets (``presets``), array files (``arrays``) and the packaged sweep specs (``specs/``)."""
from grokscope.config import neural_sections  # noqa: F401  (registers the rnn, neuro, seq_digits sections)
from grokscope.config.core import (
    Config,
    Events,
    Init,
    Optim,
    Output,
    Probes,
    Scaling,
    Train,
    dump_config,
    load_config,
    parse_config,
    read_yaml,
)
from grokscope.config.sections import (
    MODEL_SECTIONS,
    SEQUENCE_MODELS,
    TASK_SECTIONS,
    CommitteeModel,
    ConfigError,
    DataFiles,
    EigenTask,
    ImageTask,
    MLPModel,
    ModelSection,
    ModularTask,
    PolynomialTask,
    TaskSection,
    TeacherTask,
    TransformerModel,
)

__all__ = [
    "MODEL_SECTIONS", "SEQUENCE_MODELS", "TASK_SECTIONS", "CommitteeModel", "Config", "ConfigError",
    "DataFiles", "EigenTask", "Events", "ImageTask", "Init", "MLPModel", "ModelSection", "ModularTask",
    "Optim", "Output", "PolynomialTask", "Probes", "Scaling", "TaskSection", "TeacherTask", "Train",
    "TransformerModel", "dump_config", "load_config", "parse_config", "read_yaml",
]
