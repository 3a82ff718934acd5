"""Retrieval over a synthetic store: how long BM25 takes at 10,000 FAQ entries, no model involved.

The store is generated from a seed (clothes, topics, question and answer templates), so every run
indexes the same entries and asks the same questions.
"""

import random
import time

from engine.knowledge import FaqFact, StoreSnapshot
from engine.retrieve import build_index, retrieve, tokenize
from engine.stats import percentile

_ITEMS = (  # noqa: SIM905
    "T恤 衬衫 连衣裙 牛仔裤 卫衣 外套 羽绒服 半身裙 短裤 毛衣 针织衫 风衣 西装 马甲 打底衫 睡衣 "
    "运动裤 阔腿裤 吊带 背心 polo衫 夹克 棉服 大衣 袜子 帽子 围巾 手套 运动鞋 凉鞋 帆布鞋 双肩包"
).split()
_TOPICS = (  # noqa: SIM905
    "尺码 面料 颜色 价格 库存 发货 退货 换货 洗涤 包装 发票 优惠 会员 赠品 快递 到货 质量 色差 起球 "
    "缩水 褪色 厚度 弹力 版型 袖长 衣长 腰围 胸围 肩宽 裤长 适合季节 产地 吊牌 线头 售后 保修 预售 "
    "定金 尾款 补货 改地址 拒收 运费 保价 开线 异味 透气 保暖"
).split()
_QUESTIONS = (
    "{item}的{topic}怎么样?",
    "{item}{topic}有什么要求?",
    "请问{item}的{topic}是多少?",
    "{item}{topic}有问题怎么办?",
    "买了{item}{topic}不满意可以处理吗?",
    "{item}和{item2}的{topic}一样吗?",
    "{item}{topic}需要注意什么?",
)
_ANSWER_PARTS = (
    "亲，{item}的{topic}以商品详情页说明为准。",
    "一般情况下{topic}在{n}天内处理完成。",
    "如果{topic}不符合描述，请在签收后{n}天内联系客服。",
    "{item}采用{pct}%棉混纺面料，{topic}表现稳定。",
    "建议身高{h}cm、体重{w}kg选择{size}码。",
    "满{n}0元可享受{topic}相关的服务。",
    "{topic}问题请上传照片，我们会尽快为您核实。",
    "本店{item}均从杭州仓库发出，默认中通快递。",
)
_SHOP_QUERIES = (
    "{item}什么时候发货",
    "{item}{topic}怎么样",
    "我想问下{item}的{topic}",
    "{item}有{size}码吗",
    "身高{h}体重{w}穿什么码的{item}",
    "{topic}不满意能退吗",
    "亲，{item}的{topic}有问题，上传照片以后多久处理，可以换货吗，默认发什么快递",
)
_OFFTOPIC_QUERIES = ("今天天气怎么样", "你们卖手机吗", "帮我写一首诗", "股票怎么买")


def _synthetic_store(n_faqs: int, rng: random.Random) -> StoreSnapshot:
    faqs = []
    for i in range(n_faqs):
        item, item2 = rng.sample(_ITEMS, 2)
        topic = rng.choice(_TOPICS)
        values = {
            "item": item,
            "item2": item2,
            "topic": topic,
            "n": rng.randint(1, 30),
            "pct": rng.randint(30, 100),
            "h": rng.randint(150, 190),
            "w": rng.randint(40, 90),
            "size": rng.choice(["S", "M", "L", "XL"]),
        }
        answer = "".join(part.format(**values) for part in rng.sample(_ANSWER_PARTS, rng.randint(2, 4)))
        faqs.append(
            FaqFact(
                id=i + 1,
                question=rng.choice(_QUESTIONS).format(**values),
                answer=answer,
                keywords=(f"{item}{topic}", topic),
                alt_questions=(f"{item}{topic}?",),
            )
        )
    return StoreSnapshot(store_id=0, slug="bench", name="基准测试店", faqs=tuple(faqs), version="bench")


def retrieval_benchmark(n_faqs: int = 10000, queries: int = 200) -> dict[str, float]:
    """Build a synthetic store of `n_faqs` FAQ entries (seeded, reproducible) and time retrieval.

    Returns build time, p50/p95/max retrieval latency in milliseconds (threshold 1.0, top_k 3, a
    fifth of the questions off-topic), the number of distinct tokens and how many shop and off-topic
    questions found something (a sanity check on the scale, not a quality measure).
    """
    tokenize("发货")  # loads jieba's dictionary: once per process, not part of the figures
    rng = random.Random(20240618)  # noqa: S311 - reproducible synthetic data, not security
    store = _synthetic_store(n_faqs, rng)
    started = time.perf_counter()
    index = build_index(store)
    build_ms = (time.perf_counter() - started) * 1000.0

    texts: list[tuple[str, bool]] = []
    for i in range(queries):
        if i % 5 == 4:
            texts.append((rng.choice(_OFFTOPIC_QUERIES), False))
            continue
        template = rng.choice(_SHOP_QUERIES)
        values = {
            "item": rng.choice(_ITEMS),
            "topic": rng.choice(_TOPICS),
            "size": rng.choice(["S", "M", "L", "XL"]),
            "h": rng.randint(150, 190),
            "w": rng.randint(40, 90),
        }
        texts.append((template.format(**values), True))

    latencies: list[float] = []
    hits = {True: 0, False: 0}
    for text, on_topic in texts:
        started = time.perf_counter()
        found = retrieve(index, text, threshold=1.0, top_k=3)
        latencies.append((time.perf_counter() - started) * 1000.0)
        hits[on_topic] += bool(found)
    n_shop = sum(1 for _, on_topic in texts if on_topic)
    n_offtopic = len(texts) - n_shop
    return {
        "n_faqs": n_faqs,
        "queries": len(texts),
        "tokens": len(index.postings),
        "build_ms": round(build_ms, 1),
        "p50_ms": round(percentile(latencies, 50) or 0.0, 3),
        "p95_ms": round(percentile(latencies, 95) or 0.0, 3),
        "max_ms": round(max(latencies), 3) if latencies else 0.0,
        "shop_hit_rate": round(hits[True] / n_shop, 3) if n_shop else 0.0,
        "offtopic_hit_rate": round(hits[False] / n_offtopic, 3) if n_offtopic else 0.0,
    }
