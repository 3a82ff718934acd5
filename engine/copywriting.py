"""Copy on request: "帮我写一段连衣裙的朋友圈推广语" - a few sentences about one product, from its row only.

The first thing a shop owner tries in a chat bot. The product is the named one, the one in view or the one
just talked about; a kind with several products gets the question which one. The model writes in the
store's voice from the product's row (name, attributes, price, description, size note) and nothing else;
the guard checks it like any answer (no invented discount, gift or free shipping), and a plain text built
from the same row stands in when the model's text is broken.
"""

import re

from engine.amounts import money
from engine.focus import Resolved
from engine.knowledge import ProductFact
from engine.lexicon import word

# Asking for copy: a verb of writing and a kind of text, or the kind of text about a product.
COPY_REQUEST = re.compile(
    r"(写|编|拟|起)(一|几)?(段|个|条|篇|句|版|份|下)?.{0,14}(文案|推广语|广告语|宣传语|种草|卖点|商品描述|产品描述"
    r"|商品介绍|产品介绍|标题|slogan|朋友圈|小红书|详情页)"
    r"|(朋友圈|小红书|推广|宣传|种草)(文案|推广语|广告语|宣传语|笔记)"
    r"|"
    + word(r"(write|draft|give\s+me)\s+(a|an|some|the)?\s*(product\s+)?(description|copy|caption|tagline|post|blurb)"),
    re.IGNORECASE,
)

STYLES = (
    ("朋友圈", "一条朋友圈推广文案（两三句话，口语、亲切，可带一两个表情符号）"),
    ("小红书", "一段小红书种草文案（三四句话，第一人称分享口吻）"),
    ("标题", "一个商品标题（不超过30个字）"),
    ("推广语|广告语|宣传语|slogan|tagline", "一句推广语（不超过25个字）"),
)
DEFAULT_STYLE = "一段商品描述（三四句话）"

ASK_WHICH = "亲，想写哪一款呢？店里有：{names}。告诉我商品名，我就按它的资料来写～"
ASK_WHAT = "亲，想为哪件商品写呢？告诉我商品名（或在商品页面打开聊天），我就按它的资料来写～"


def is_copy_request(text: str) -> bool:
    return COPY_REQUEST.search(text) is not None


def copy_style(text: str) -> str:
    for pattern, style in STYLES:
        if re.search(pattern, text, re.IGNORECASE):
            return style
    return DEFAULT_STYLE


def product_facts_text(product: ProductFact) -> str:
    """Everything the row says, one fact a line: the only material the copy may use."""
    lines = [f"商品：{product.name}", f"价格：{money(product.price)}元"]
    lines += [f"{key}：{value}" for key, value in product.attributes]
    if product.description:
        lines.append(f"介绍：{product.description}")
    if product.size_guide:
        first = re.split(r"[。；;]", product.size_guide, maxsplit=1)[0]
        lines.append(f"尺码建议：{first}")
    return "\n".join(lines)


def copy_instruction(text: str) -> str:
    return (
        f"请为上面这件商品写{copy_style(text)}，用店铺客服的语气。只能用资料里写到的信息："
        "不要写资料里没有的材质、功效、折扣、赠品、包邮或价格，不要编造销量和评价。直接给出文案。"
    )


def plain_copy(product: ProductFact) -> str:
    """The copy a row gives without a model: its name, its facts, its price."""
    facts = "，".join(f"{key}{value}" for key, value in product.attributes[:4])
    description = product.description.strip().rstrip("。")
    parts = [f"【{product.name}】"]
    if description:
        parts.append(description + "。")
    if facts:
        parts.append(facts + "。")
    parts.append(f"价格{money(product.price)}元。")
    return "".join(parts)


def which_product_text(resolved: Resolved, all_products: tuple[ProductFact, ...]) -> str:
    candidates = resolved.products or all_products
    if not candidates:
        return ASK_WHAT
    if len(candidates) > 8:
        return ASK_WHAT
    return ASK_WHICH.format(names="、".join(p.name for p in candidates))
