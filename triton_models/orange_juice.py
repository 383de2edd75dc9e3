"""The orangeJuice store-level panel (R package ``bayesm``) and the own-price elasticity it implies.

Dominick's Finer Foods sold 11 orange-juice brands in 83 Chicago stores over 121 weeks;
``bayesm`` ships the weekly unit sales and shelf prices as ``orangeJuice$yx``. Debian's
``r-cran-bayesm`` installs it as ``data/orangeJuice.rda`` (``LazyData`` is off), which
:mod:`rdata` reads directly; a package built with lazy data keeps it in
``data/Rdata.rdb``/``.rdx`` instead, which :func:`read_lazy_load_object` reads.

The elasticity is the slope of ``log(units)`` on ``log(own price)`` with store × brand
fixed effects and the deal and feature flags as controls, standard errors clustered by store.
"""

from __future__ import annotations

import bz2
import functools
import lzma
import struct
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import rdata

from schemas.errors import StreamdecideError
from triton_models.card import OrangeJuiceElasticity

DEBIAN_PACKAGE: Final = "r-cran-bayesm"
R_PACKAGE: Final = "bayesm"
DATASET: Final = "orangeJuice"
R_LIBRARY_DIRS: Final[tuple[Path, ...]] = (
    Path("/usr/lib/R/site-library"),
    Path("/usr/local/lib/R/site-library"),
    Path("/usr/lib/R/library"),
    Path("/usr/local/lib/R/library"),
)
"""Where Debian (``site-library``) and ``install.packages`` put R packages."""
RDA_FILE: Final = f"{DATASET}.rda"
LAZY_DB: Final = "Rdata.rdb"
LAZY_INDEX: Final = "Rdata.rdx"
N_BRANDS: Final = 11
METHOD: Final = (
    "OLS of log(units) on log(own price), deal and feature with store x brand fixed effects; "
    "standard error clustered by store"
)


class DatasetNotFoundError(StreamdecideError):
    """The orangeJuice data is not installed; ``package`` names the Debian package that ships it."""

    def __init__(self, searched: Sequence[Path]) -> None:
        places = ", ".join(str(p) for p in searched)
        super().__init__(
            f"{DATASET} not found in {places}: install the Debian package {DEBIAN_PACKAGE} "
            f"(`apt-get install -y --no-install-recommends {DEBIAN_PACKAGE}`, done by `make setup`)"
        )
        self.package = DEBIAN_PACKAGE
        self.searched = tuple(searched)


@dataclass(frozen=True)
class Panel:
    """One row per store, brand and week: log unit sales, log own price, deal and feature flags."""

    store: np.ndarray
    brand: np.ndarray
    week: np.ndarray
    log_units: np.ndarray
    log_price: np.ndarray
    deal: np.ndarray
    feature: np.ndarray
    source: str


@dataclass(frozen=True)
class ElasticityFit:
    """Slope of log units on log price with its clustered standard error."""

    elasticity: float
    std_error: float
    rows: int
    clusters: int


def find_orange_juice(library_dirs: Sequence[Path] = R_LIBRARY_DIRS) -> Path:
    """The ``data`` directory of the installed ``bayesm`` package holding orangeJuice.

    Raises
    ------
    DatasetNotFoundError
        If no library directory has it (naming the Debian package).
    """
    for library in library_dirs:
        data_dir = library / R_PACKAGE / "data"
        if (data_dir / RDA_FILE).is_file() or (data_dir / LAZY_DB).is_file():
            return data_dir
    raise DatasetNotFoundError([d / R_PACKAGE / "data" for d in library_dirs])


def read_lazy_load_object(data_dir: Path, name: str) -> Any:
    """Read object ``name`` from an R lazy-load database (``Rdata.rdx`` index, ``Rdata.rdb`` blobs).

    Each blob is a 4-byte big-endian length and the compressed serialised object (zlib,
    or bzip2/xz/none after a one-byte tag ``2``/``X``/``0``), as R's ``lazyLoadDBfetch`` reads it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rdata: "Wrong extension .rdx for file in RDS format"
        index = rdata.conversion.convert(rdata.parser.parse_file(data_dir / LAZY_INDEX))
    offset, length = (int(v) for v in np.asarray(index["variables"][name]).ravel()[:2])
    with open(data_dir / LAZY_DB, "rb") as db:
        db.seek(offset)
        blob = db.read(length)
    (size,) = struct.unpack(">I", blob[:4])
    body = blob[4:]
    tag = body[:1]
    if tag == b"2":
        raw = bz2.decompress(body[1:])
    elif tag == b"X":
        raw = lzma.decompress(body[1:])
    elif tag == b"0":
        raw = body[1:]
    else:
        raw = zlib.decompress(body)
    if len(raw) != size:
        raise ValueError(f"{data_dir / LAZY_DB}: {name} is {len(raw)} bytes, index says {size}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rdata: "Unknown file type: assumed RDS"
        return rdata.conversion.convert(rdata.parser.parse_data(raw))


def load_orange_juice(data_dir: Path | None = None) -> Panel:
    """The orangeJuice panel as arrays (reads the ``.rda``, else the lazy-load database).

    Raises
    ------
    DatasetNotFoundError
        If the data is not installed.
    """
    data_dir = data_dir or find_orange_juice()
    rda = data_dir / RDA_FILE
    if rda.is_file():
        frame = rdata.conversion.convert(rdata.parser.parse_file(rda))[DATASET]["yx"]
        source = str(rda)
    else:
        frame = read_lazy_load_object(data_dir, DATASET)["yx"]
        source = str(data_dir / LAZY_DB)
    brand = frame["brand"].to_numpy(dtype=np.int64)
    prices = frame[[f"price{b}" for b in range(1, N_BRANDS + 1)]].to_numpy(dtype=np.float64)
    return Panel(
        store=frame["store"].to_numpy(dtype=np.int64),
        brand=brand,
        week=frame["week"].to_numpy(dtype=np.int64),
        log_units=frame["logmove"].to_numpy(dtype=np.float64),
        log_price=np.log(prices[np.arange(len(brand)), brand - 1]),
        deal=frame["deal"].to_numpy(dtype=np.float64),
        feature=frame["feat"].to_numpy(dtype=np.float64),
        source=source,
    )


def within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``values`` minus their group means (the fixed-effects transformation).

    Examples
    --------
    >>> within(np.array([1.0, 3.0, 10.0]), np.array([0, 0, 1]))
    array([-1.,  1.,  0.])
    """
    _, codes = np.unique(groups, return_inverse=True)
    means = np.bincount(codes, weights=values) / np.bincount(codes)
    return values - means[codes]


def fit_fixed_effects(
    y: np.ndarray, x: np.ndarray, groups: np.ndarray, clusters: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """OLS of ``y`` on the columns of ``x`` within ``groups``; coefficients and store-clustered (CR1) errors.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(50), 40)
    >>> x = rng.normal(size=(2000, 1))
    >>> y = 3.0 * g + -2.5 * x[:, 0] + rng.normal(scale=0.1, size=2000)
    >>> beta, se = fit_fixed_effects(y, x, g, g)
    >>> round(float(beta[0]), 2), bool(se[0] < 0.01)
    (-2.5, True)
    """
    xw = np.column_stack([within(x[:, j], groups) for j in range(x.shape[1])])
    yw = within(y, groups)
    bread = np.linalg.inv(xw.T @ xw)
    beta = bread @ xw.T @ yw
    residual = yw - xw @ beta
    _, codes = np.unique(clusters, return_inverse=True)
    n_clusters = int(codes.max()) + 1
    scores = np.zeros((n_clusters, x.shape[1]))
    np.add.at(scores, codes, xw * residual[:, None])
    n, k = xw.shape
    n_groups = len(np.unique(groups))
    correction = n_clusters / (n_clusters - 1) * (n - 1) / (n - k - n_groups)
    covariance = bread @ (scores.T @ scores) @ bread * correction
    return beta, np.sqrt(np.diag(covariance))


def fit_elasticity(panel: Panel) -> ElasticityFit:
    """Own-price elasticity of unit sales: see the module docstring for the specification."""
    x = np.column_stack([panel.log_price, panel.deal, panel.feature])
    groups = panel.store * (N_BRANDS + 1) + panel.brand
    beta, se = fit_fixed_effects(panel.log_units, x, groups, panel.store)
    return ElasticityFit(float(beta[0]), float(se[0]), len(panel.log_units), len(np.unique(panel.store)))


@functools.cache
def orange_juice_elasticity() -> OrangeJuiceElasticity:
    """The elasticity estimated on the installed orangeJuice panel, as the model card records it.

    Raises
    ------
    DatasetNotFoundError
        If ``r-cran-bayesm`` is not installed.
    """
    panel = load_orange_juice()
    fit = fit_elasticity(panel)
    return OrangeJuiceElasticity(
        elasticity=fit.elasticity,
        std_error=fit.std_error,
        rows=fit.rows,
        stores=fit.clusters,
        brands=len(np.unique(panel.brand)),
        weeks=len(np.unique(panel.week)),
        method=METHOD,
        source=f"{R_PACKAGE} {DATASET} ({panel.source})",
    )
