"""gbml: reference simulations for *MAML and ANIL Provably Learn Representations* (Collins et al., 2022).

The simulation core, which follows the book's equations; the book's helpers (figures, explorers, exercise
checkers, sweeps, the paper's experiments, glue) live in the subpackage :mod:`gbml.book`.
"""
__version__ = "0.1.0"

from .algorithms import METHODS, Method, adapt, meta_gradient, meta_objective
from .geometry import orthonormal_basis, principal_angles, random_orthonormal, split_body, subspace_distance
from .problem import Problem, paper_head_cov
from .tasks import PopulationTasks, SampledTasks
from .theory import diversity, global_bound, iterations_to, local_rate, measured_rate
from .training import DivergenceError, History, train, train_runs

__all__ = [
    "__version__", "METHODS", "Method", "adapt", "meta_gradient", "meta_objective",
    "orthonormal_basis", "principal_angles", "random_orthonormal", "subspace_distance",
    "split_body", "Problem", "paper_head_cov", "PopulationTasks", "SampledTasks", "diversity",
    "global_bound", "iterations_to", "local_rate", "measured_rate", "DivergenceError", "History",
    "train", "train_runs"
]
