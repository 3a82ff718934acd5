"""The route step: messages that get a fixed reply (or a human) instead of an answer from the knowledge base.

Checked in this order, first hit wins: an explicit request for a human, an angry complaint, bargaining /
gift-begging / compensation / promotion questions (the store's real promotions, nothing else), prompt
injection, off-topic chit-chat, a bare greeting; everything else continues down the pipeline.

The rules are data: tuples of regexes matched against normalized text (half-width, lowercase, ASCII
punctuation, no spaces between Chinese characters), built from the generic words of engine/lexicon.py. Whether a
message with chit-chat words is still about the shop is decided by those words and the store's own
(engine/vocabulary.py).
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from engine import lexicon, numerals
from engine.amounts import discount_rate, money
from engine.knowledge import PromotionFact, StoreSnapshot
from engine.lexicon import compile_any, word
from engine.normalize import Normalized, normalize
from engine.vocabulary import store_vocabulary

RouteKind = Literal["handoff", "greeting", "boundary", "offtopic", "complaint", "continue"]

WELCOME_FALLBACK = "您好，有什么可以帮您？"
HANDOFF_FALLBACK = "好的，正在为您转接人工客服，请稍候。"
OFFTOPIC_FALLBACK = "抱歉，我只能解答本店商品、订单、物流和售后相关的问题哦。"
COMPLAINT_APOLOGY = "非常抱歉给您带来不好的体验！"
NO_PROMOTIONS = "目前没有进行中的优惠活动，价格以商品页面显示为准。"
PROMOTIONS_INTRO = "目前店铺进行中的活动有："
PROMOTIONS_OUTRO = "具体以下单页面显示为准。"
BOUNDARY_OPENINGS = {
    "bargain": "亲，本店商品都是统一定价，没办法额外改价或议价哦～",
    "gift_begging": "亲，赠品以店铺活动为准，没办法额外赠送哦～",
    "compensation": (
        "亲，补偿、赔偿或返现这边没办法承诺哦～如果订单或商品有问题，可以回复“转人工”，由人工客服为您核实处理。"
    ),
    "promotion_inquiry": "亲，",
}


# Words around 人工 / 真人 that make them about a product, not a person (人工智能, 真人实拍).
_NOT_A_PERSON_AFTER_RENGONG = (
    "智能|合成|培育|养殖|种植|降雨|湖|草|皮|革|纤维|染|钻|宝石|晶|成本|费|缝|制|织|绣|材料|面料|丝"
)
_NOT_A_PERSON_AFTER_ZHENREN = "实拍|图|照|视频|试穿|上身|模特|秀|拍|版|尺寸|比例"

HANDOFF_PATTERNS: tuple[str, ...] = (
    r"转人工|人工客服|人工服务|人工坐席",
    rf"(?<!你是)(?<!是不是)人工(?!{_NOT_A_PERSON_AFTER_RENGONG})",
    rf"(?<!你是)(?<!是不是)真人(?!{_NOT_A_PERSON_AFTER_ZHENREN})",
    r"活人",
    r"(找|叫|要|联系|转|换|来)(个|一个|一下|下)?(你们|你们的|你们家)?(客服|老板|店长|掌柜|店主|经理|主管|负责人|领导)",
    r"(不要|不想要|不想|不跟|不和|别用|别让)(跟|和)?(机器人|智能客服|ai|自动回复)",
    r"机器人(太)?(听不懂|没用|不行|答非所问)|换个人|换人",
    # Asking whether it is a bot, asking for a phone line, or "where is everybody": they want a person.
    r"(你|这)?是(不是)?(个|一个)?(机器人|自动回复)|机器人(吗|么|啊|吧)|自动回复(吗|么|啊)?$",
    r"有(没有)?(客服)?电话|客服电话|电话服务|打电话(给|找)|^人呢|人呢[?？!！]*$|沟通(太|真|好)?费劲",
    word(
        r"(talk|speak|chat)\s+(to|with)\s+(a|an|the|some|your)?\s*(real\s+)?"
        r"(human|person|people|someone|somebody|agent|representative|rep|manager|staff|operator|boss|owner)"
    ),
    word(r"(real|actual|live)\s+(person|human|agent|people|support)"),
    word(r"human\s+(agent|being|support|service|operator|please)"),
    word(r"(want|need|get|give|find)\s+(me\s+)?(a|an|to\s+a)?\s*(human|person|agent|representative|manager)"),
    word(r"(transfer|connect|escalate|put)\s+(me|this)\b.{0,30}(human|agent|person|staff|someone|representative)"),
    word(r"customer\s+(service|support)\s+(agent|rep|representative|staff|person)|manual\s+service"),
    r"^(human|agent|operator|representative)[\s.!?]*$",
)

COMPLAINT_PATTERNS: tuple[str, ...] = (
    r"投诉|差评|骗子|骗人|骗钱|欺骗|诈骗|垃圾|坑人|坑爹|黑店|黑心|奸商|无良|恶心|无语|忍无可忍",
    r"太差|很差|真差|好差|差劲|质量差|服务差|态度差|什么破|什么玩意|气死|烦死|破(店|东西|玩意|衣服|质量|货)",
    # Dissatisfaction and waiting too long: a person should look at the order.
    r"不满意|很失望|好失望|太失望|失望(了|的)|太坑|别坑|坑(我|人)|忽悠|什么鬼|态度(真的|也|都)?(很|太|真|好)?(差|恶劣)",
    r"(这么|那么|太|好)慢|怎么(那么|这么)?(久|慢)(还|都)?(不|没)|(还|都)(没|不)(有)?(发货|物流|到货)|不理(我|人)|没人(理|说话|回)",
    r"烂(货|店|东西|透)|太烂|好烂|真烂|滚蛋|滚开|你滚|快滚|去死|(他|特|尼|你)妈的|傻[逼比]",
    r"12315|工商局|消协|消费者协会|举报|曝光|维权",
    # A refund that does not arrive, said with an edge: a person looks at the order.
    r"给(我)?(个)?说法|赖账|耍赖|(?<![付余尾货定])(钱|退款)(还|都|也)(没|不)(到|退|回来|到账)|还(没|不)(退|给)(我)?(钱|款)",
    r"再不(发货|发|回复|回|处理|解决|退款|退|给).{0,10}就",
    word(r"scam\w*|fraud\w*|terrible|awful|worst|horrible|disgusting|rip[- ]?off|complain\w*|useless|ridiculous"),
    word(r"wtf|f+u+c+k\w*|shit\w*|liars?|cheat(ed|ing|ers?)?|unacceptable|angry|furious|pathetic|sb|tmd"),
    word(r"report\s+you|bad\s+review|negative\s+review|never\s+(buy|shop|order)\w*\s+(here|again)"),
)

COMPENSATION_PATTERNS: tuple[str, ...] = (
    rf"{lexicon.COMPENSATION_WORDS}|赔我|赔点|(补|退)(我|点)?差价|价保|精神损失",
    rf"(给|发|送|要|来|返)(我)?(个|点|一个|一点)?{lexicon.RED_PACKET}|{lexicon.RED_PACKET}呢"
    rf"|(给|发|送)(他|她|这位|顾客|客户)?.{{0,4}}\d+(块|元)(的)?{lexicon.RED_PACKET}",
    r"(给|发|送|补|来)(我)?(张|个|一张|一个|点)(优惠)?券",
    word(rf"{lexicon.COMPENSATION_WORDS_EN}|reimburs\w*|partial\s+refund|extra\s+refund"),
    word(r"refund\s+(me\s+)?(extra|more|double|twice)|(pay|give)\s+me\s+(back\s+)?(money|cash|credit|something)"),
)

GIFT_PATTERNS: tuple[str, ...] = (
    # 礼品/礼物 only when asked for: "买来做礼品" is a shopper buying presents.
    rf"{lexicon.GIFT_WORDS}|{lexicon.GIVE_AWAY_WORDS}|(送(我|点|个|些)?|有(没有)?|给(我)?)(个|点)?({lexicon.PRESENT_WORDS})"
    rf"|(什么|啥|哪些)({lexicon.PRESENT_WORDS})|({lexicon.PRESENT_WORDS})(吗|嘛|么|呢|呀)",
    r"送(点|个|些|我|一点|一个|一件|一份|一双|两)(?!货|到)",
    r"送(什么|啥)(?!快递|货|到)|有(没有)?送(的|东西)",
    word(r"free\s+(gifts?|samples?|stuff|items?|things?|socks|bag)|freebies?|any\s+gifts?|gifts?\s+with|throw\s+in"),
)

# An amount after a bargaining word: "便宜20块", "便宜两百".
_AMOUNT = rf"([{numerals.CN_NUMERAL_CHARS}几]+|\d+)((?:{lexicon.YUAN})钱?)?"

BARGAIN_PATTERNS: tuple[str, ...] = (
    r"便宜(点|些|一点|一些|几块|多少)|(能|可以|再|还能|能不能|可不可以)便宜|少(点|一点|些|几块|算|收)|抹(个)?零",
    r"打.{0,2}折|折扣|优惠(点|一点|些|一些|下|一下)|给(个|点|我)?优惠|优惠券|优惠码|券",
    # Naming one's own price: "便宜10块", "能不能也69", "每罐算150行不行", "别家才卖69".
    rf"便宜{_AMOUNT}(我|就|吧|呗|行|可以|好不好|的话|马上)",
    r"最低(多少|价|几|能)|底价|(砍|讲|议|还|改)(个|一下|下)?价|砍(一)?刀|改(个|下)?价格|包(个)?邮(吧|呗|啦)|给(我)?包邮",
    word(rf"cheaper|discounts?|{lexicon.COUPON_WORDS_EN}|promo\s*codes?|bargain\w*|haggle|negotiate"),
    word(r"lower\s+(the\s+)?price|best\s+price|better\s+price|price\s+match|knock\s+off|come\s+down"),
)

# Naming one's own price ("能不能也69", "每罐算150行不行", "别家才卖69"): only where the number is no
# height, weight, size or time ("身高算170吧", "xl码可以140吗", "别家都是48小时发货").
NAMED_PRICE_PATTERNS: tuple[str, ...] = (
    rf"(能不能|可不可以|能|可以)也?(卖|算|给)?我?\d+((?:{lexicon.YUAN})钱?)?(吗|嘛|么|呗|吧)?[?!.~]*$",
    rf"算(我)?\d+((?:{lexicon.YUAN})钱?)?(行不行|行吗|可以吗|好不好|吧|呗|怎么样)",
    rf"别(家|人家|的店|处)(才|只|都|就)?(卖|要)\d+|别(家|人家|的店|处).{{0,4}}\d+({lexicon.YUAN})",
)
_NOT_A_PRICE = re.compile(
    rf"码|{lexicon.BODY_MEASURES}|{lexicon.GARMENT_MEASURES}|{lexicon.WEIGHT_UNITS}|{lexicon.LENGTH_UNITS}|小时|天|号"
)

PROMOTION_INQUIRY_PATTERNS: tuple[str, ...] = (
    rf"(什么|哪些|啥|有没有|有)({lexicon.PROMOTION_WORDS})|优惠活动|({lexicon.PROMOTION_WORDS})(吗|嘛|么|呢)|促销",
    # How a promotion works, whether one still runs, a promotion named by its numbers.
    r"(满减|优惠|活动|折扣)(是)?(怎么|如何)(算|用|参加|计算|使用)(?!运费|邮费)"
    r"|(活动|优惠|满减)(还有吗|还有没有|还在吗|还在不在|结束了吗|结束了没|什么时候结束|到什么时候|截止到)"
    r"|满\d+减\d+(的活动)?(还能用|还能参加|还有|还在|能用吗|可以用吗)",
    word(r"on\s+sale|any\s+(sales?|offers?|deals?|promotions?|discounts?)|special\s+offers?|promotions?|promos?"),
)

COMBINING_PATTERNS: tuple[str, ...] = (
    r"(一起|同时|叠加|同享|共同|一块)(用|使用|享受?|参加|参与)|(能|可以|可不可以|能不能)(叠加|同享|一起)|叠加(吗|么|嘛)",
    word(r"combine\w*|stack\w*|together\s+with|at\s+the\s+same\s+time"),
)

INJECTION_PATTERNS: tuple[str, ...] = (
    r"(忽略|无视|忘记|忘掉|不要理会|别管|跳过|绕过)(掉)?(你)?(之前|以上|前面|上面|先前|刚才|所有|全部|你的|系统)?的?.{0,4}"
    r"(指令|指示|提示|规则|设定|要求|命令|限制|约束)",
    r"系统提示|提示词|系统指令|你的(指令|设定|规则|配置|提示)|(输出|打印|告诉我|显示|重复|泄露)(你的|一下)?(上面|以上|前面|系统|初始)的?"
    r"(内容|文字|话|所有|全部|指令|提示|设定|消息|规则)",
    r"开发者模式|调试模式|越狱|管理员模式|上帝模式|(从现在开始|现在起|接下来)你(就)?是|扮演|假装你是|你现在是一个",
    word(
        r"(ignore|disregard|forget|override|bypass)\s+(all\s+|any\s+|the\s+|your\s+|of\s+)*"
        r"(previous|prior|above|earlier|preceding|system|existing|original)?\s*"
        r"(instructions?|prompts?|rules|directions|guidelines|directives)"
    ),
    word(r"system\s+(prompt|message)|initial\s+(prompt|instructions?)|your\s+(instructions|prompt)"),
    word(r"developer\s+mode|dev\s+mode|debug\s+mode|jailbreak\w*|dan\s+mode|do\s+anything\s+now"),
    word(
        r"(print|reveal|repeat|output|leak|show\s+me|tell\s+me)\s+(your|the)\s+(system\s+)?"
        r"(prompt|instructions|rules|configuration|guidelines)"
    ),
    word(r"(repeat|print|output)\s+(everything|all|the\s+text|the\s+words)\s+above"),
    word(r"you\s+are\s+now|pretend\s+(to\s+be|you\s+are|you're)|act\s+as\s+(a|an|if)|role-?play"),
    r"<\|?(im_start|im_end|system|assistant|user)\|?>|\[/?inst\]|<</?sys>>|###\s*(system|instruction)",
)

# A message made only of these (plus punctuation and emoji) is a greeting. Longer alternatives first.
GREETING_PATTERNS: tuple[str, ...] = (
    r"你好|您好|你们好|大家好|哈喽|哈啰|嗨|在吗|在嘛|在么|在不在|在没在|在|有人吗|有人在吗|有人在不|有人在没|有人不|有人没|有没有人",
    r"亲亲|亲爱的|亲|美女|帅哥|小姐姐|小哥哥|老板|客服|掌柜|店家|早上好|上午好|中午好|下午好|晚上好|早安|早|请问|打扰了",
    r"喂",
    r"hello|hiya|hey|hi|yo|there|good\s+(morning|afternoon|evening)|morning|(is\s+)?(anyone|anybody)(\s+there)?",
    r"excuse\s+me|dear",
)
# Fillers may go with a greeting but are none on their own ("嗯嗯", "哈哈", "ok" in the middle of a chat).
GREETING_FILLERS: tuple[str, ...] = (r"呀|啊|哦|喔|嗯|哇|呢|吗|吖|哟|哈|一下|okay|ok",)

_HANDOFF = compile_any(HANDOFF_PATTERNS)
_COMPLAINT = compile_any(COMPLAINT_PATTERNS)
_COMPENSATION = compile_any(COMPENSATION_PATTERNS)
_GIFT = compile_any(GIFT_PATTERNS)
_BARGAIN = compile_any(BARGAIN_PATTERNS)
_NAMED_PRICE = compile_any(NAMED_PRICE_PATTERNS)
_PROMOTION_INQUIRY = compile_any(PROMOTION_INQUIRY_PATTERNS)
_INJECTION = compile_any(INJECTION_PATTERNS)
_COMBINING = compile_any(COMBINING_PATTERNS)
_DEFECT = compile_any((lexicon.DEFECT_WORDS, word(lexicon.DEFECT_WORDS_EN)))
_REFUND_DEMAND = compile_any(
    (r"(要求|必须|我要|给我|马上|立刻)(退款|退货|退钱|赔)", word(r"(want|demand)\s+a\s+refund"))
)
_CHITCHAT = compile_any(lexicon.CHITCHAT_WORDS)
_SHOP = compile_any(lexicon.SHOP_WORDS)
# Atomic and possessive: a failed match must not retry every split of 在吗在吗... (exponential); hence the
# longer alternative comes first in GREETING_PATTERNS (在吗 before 在).
_GREETING = re.compile(rf"(?:(?>{'|'.join(GREETING_PATTERNS + GREETING_FILLERS)})\s*)++", re.IGNORECASE)
_FILLERS = re.compile(rf"(?:(?>{'|'.join(GREETING_FILLERS)})\s*)++", re.IGNORECASE)
_MAX_GREETING_CHARS = 40


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    reply: str  # what to send the shopper; for "continue" only a fallback when the store's data has nothing
    reason: str  # short machine string: human_requested, angry, bargain, injection, chitchat, greeting...
    handoff: bool = False


def describe_promotion(promotion: PromotionFact) -> str:
    """A promotion in a few words, from its structured fields only (its title when they are missing)."""
    member = "会员" if promotion.member_only else ""
    threshold = promotion.threshold if promotion.threshold and promotion.threshold > 0 else None
    if promotion.kind == "threshold_off" and promotion.amount is not None:
        what = f"满{money(threshold)}减{money(promotion.amount)}" if threshold else f"立减{money(promotion.amount)}"
    elif promotion.kind == "multiplier" and promotion.multiplier is not None and discount_rate(promotion.multiplier):
        what = str(discount_rate(promotion.multiplier))
    elif promotion.kind == "gift" and promotion.gift:
        what = f"满{money(threshold)}送{promotion.gift}" if threshold else f"下单送{promotion.gift}"
    elif promotion.kind == "free_shipping":
        what = f"满{money(threshold)}包邮" if threshold else "全场包邮"
    else:
        return promotion.title.strip()
    return member + what


def promotions_sentence(promotions: Iterable[PromotionFact]) -> str:
    """The store's active promotions in one sentence, or that there are none. Never anything else."""
    described: list[str] = []
    for promotion in promotions:
        text = describe_promotion(promotion)
        if text and text not in described:
            described.append(text)
    if not described:
        return NO_PROMOTIONS
    return f"{PROMOTIONS_INTRO}{'；'.join(described)}。{PROMOTIONS_OUTRO}"


def _is_greeting(text: str, store: StoreSnapshot) -> bool:
    if len(text) > _MAX_GREETING_CHARS:
        return False
    assistant = normalize(store.assistant_name).text
    named = bool(assistant) and assistant in text
    if named:
        text = text.replace(assistant, " ")  # 小美在吗, 小美!
    words = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in text).strip()
    if not words:
        return named
    return _GREETING.fullmatch(words) is not None and (named or _FILLERS.fullmatch(words) is None)


def _is_shop_question(text: str, store: StoreSnapshot) -> bool:
    """About shopping in any shop (lexicon), or about what this store sells (its own data)."""
    return _SHOP.search(text) is not None or store_vocabulary(store).mentions(text)


def _boundary(reason: str, store: StoreSnapshot) -> Route:
    reply = BOUNDARY_OPENINGS[reason] + promotions_sentence(store.promotions)
    return Route(kind="boundary", reply=reply, reason=reason)


def route(text: Normalized | str, *, store: StoreSnapshot) -> Route:
    """Decide whether a message gets a fixed reply (or a human) or continues to the knowledge base."""
    normalized = text if isinstance(text, Normalized) else normalize(text, synonyms=store.synonyms)
    message = normalized.text
    if not message:
        return Route(kind="continue", reply="", reason="empty")
    if _HANDOFF.search(message):
        return Route(
            kind="handoff",
            reply=store.handoff_message.strip() or HANDOFF_FALLBACK,
            reason="human_requested",
            handoff=True,
        )
    if _COMPLAINT.search(message):
        reply = COMPLAINT_APOLOGY + (store.handoff_message.strip() or HANDOFF_FALLBACK)
        return Route(kind="complaint", reply=reply, reason="angry", handoff=True)
    if _DEFECT.search(message) and (_COMPENSATION.search(message) or _REFUND_DEMAND.search(message)):
        # "洗了一次就开线了，要求退款并赔偿运费": something is wrong with the order; a person looks at it.
        reply = COMPLAINT_APOLOGY + (store.handoff_message.strip() or HANDOFF_FALLBACK)
        return Route(kind="complaint", reply=reply, reason="grievance", handoff=True)
    # How the store's own offers combine ("满减和会员折扣能一起用吗") is a question about its data, not bargaining.
    combining = _COMBINING.search(message) is not None
    fallback = ""  # a combining question the store's data cannot answer gets the promotions reply after all
    for reason, pattern in (
        ("compensation", _COMPENSATION),
        ("gift_begging", _GIFT),
        ("bargain", _BARGAIN),
        ("promotion_inquiry", _PROMOTION_INQUIRY),
    ):
        if pattern.search(message):
            if not (combining and reason in ("bargain", "promotion_inquiry", "gift_begging")):
                return _boundary(reason, store)
            fallback = fallback or _boundary("promotion_inquiry", store).reply
    if _NAMED_PRICE.search(message) and not _NOT_A_PRICE.search(message):
        return _boundary("bargain", store)
    offtopic = store.offtopic_reply.strip() or OFFTOPIC_FALLBACK
    if _INJECTION.search(message):
        return Route(kind="offtopic", reply=offtopic, reason="injection")
    if _CHITCHAT.search(message) and not _is_shop_question(message, store):
        return Route(kind="offtopic", reply=offtopic, reason="chitchat")
    if _is_greeting(message, store):
        return Route(kind="greeting", reply=store.welcome.strip() or WELCOME_FALLBACK, reason="greeting")
    if fallback:
        return Route(kind="continue", reply=fallback, reason="combining")
    return Route(kind="continue", reply="", reason="")
