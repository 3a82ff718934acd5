"""The words of shopping that are the same in every store: what the router, the size advice and the guard
recognise. Each idea is written once here and the steps build their rules from it.

Fragments are regex alternations over normalized text (half-width, lower case; see engine/normalize.py).
What one store sells (tea, dresses, toys) is not here: it comes from the store's own data
(engine/vocabulary.py), so a store of any kind is understood without a code change.
"""

import re
from collections.abc import Iterable


def word(pattern: str) -> str:
    """An English word or phrase: not glued to other Latin letters or digits. (`\\b` would not separate a Latin
    word from an adjacent Chinese character.)"""
    return rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])"


def compile_any(patterns: Iterable[str]) -> re.Pattern[str]:
    """One case-insensitive pattern that matches where any of `patterns` does."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


_PLAIN = re.compile(r"(\w+?)(\w\?)?")


def plain_words(*fragments: str) -> tuple[str, ...]:
    """The literal words of alternations, for a streaming check that must know a word before it is complete:
    "包邮|免邮费?|块(?!儿)" gives 包邮, 免邮, 免邮费 (an alternative with other regex syntax gives nothing)."""
    found: list[str] = []
    for fragment in fragments:
        for alternative in fragment.split("|"):
            plain = _PLAIN.fullmatch(alternative)
            if plain is None:
                continue
            stem, optional = plain.groups()
            found += [stem, stem + optional[0]] if optional else [stem]
    return tuple(found)


# --- money --------------------------------------------------------------------------------------------------------

# Chinese currency words after an amount ("99元", "九块九", "50块钱"); 块儿 is a piece, not money.
YUAN = r"元|块(?!儿)|圆"
CURRENCY_AFTER_EN = r"rmb(?![a-z])|cny(?![a-z])|yuan(?![a-z])|dollars?(?![a-z])|bucks"
CURRENCY_BEFORE = r"¥|\$|rmb|cny|usd"

PRICE_WORDS = r"价格|价钱|售价|多少钱|多钱|什么价|啥价|几块"
PRICE_WORDS_EN = r"how much|price"

# --- stock --------------------------------------------------------------------------------------------------------

STOCK_WORDS = r"现货|有货|缺货|没货|断货|库存"
# Asking whether something is in stock, beyond the stock words themselves.
STOCK_QUESTION_PHRASES = r"有现货|还有吗|还有没有|有没有货|有木有货|卖完|in stock"
RESTOCK_WORDS = r"补货"

# --- offers: discounts, coupons, gifts, free shipping, compensation -----------------------------------------------

# A discount said without a number (a number says more: see engine/numerals.py DISCOUNT_RATE).
DISCOUNT_WORDS = r"打折|打个折|折扣|特价|降价"
DISCOUNT_WORDS_EN = r"discounts?|on\s+sale"
# Fixed discounts, as multipliers of the price.
FIXED_DISCOUNTS = {"半价": "0.5", "免单": "0"}
COUPON_WORDS = r"优惠券|代金券|抵用券|现金券|满减券|无门槛券|券"
COUPON_WORDS_EN = r"coupons?|vouchers?"
PROMOTION_WORDS = r"优惠|活动|满减"

# What a shop gives away with an order. 礼品 and 礼物 are also presents a shopper buys for others ("买来做礼品"),
# so a rule about asking for a gift needs them in a request; a claim about one is a claim either way.
GIFT_WORDS = r"赠品|小礼物|小礼品|好礼|礼包"
PRESENT_WORDS = r"礼品|礼物"
GIFT_WORDS_EN = r"(?:free )?gifts?(?![a-z])|complimentary"
GIVE_AWAY_WORDS = r"赠送|多送|再送|加送|白送|附送"

FREE_SHIPPING_WORDS = r"包邮|免运费|免邮费?|运费全免|免费配送|免费送货|免费发货"
FREE_SHIPPING_WORDS_EN = (
    r"free\s+shipping|free\s+delivery|ships?\s+(?:for\s+)?free|shipping\s+is\s+free"
    r"|no\s+shipping\s+(?:fee|cost|charge)s?"
)
SHIPPING_FEE_WORDS = r"运费|邮费"
# Regions of China (and abroad) a shipping rule may name; 港澳台 is the three of them. A city stands for its region.
REGIONS = (
    r"新疆|西藏|青海|宁夏|甘肃|内蒙古|内蒙|海南|港澳台|香港|澳门|台湾|偏远地区|偏远|海外|国外|境外"
    r"|北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|广西"
    r"|四川|贵州|云南|陕西|江浙沪|珠三角"
    r"|乌鲁木齐|喀什|伊犁|克拉玛依|库尔勒|拉萨|日喀则|林芝|西宁|银川|兰州|呼和浩特|海口|三亚"
    r"|xinjiang|tibet|hong\s*kong|macau|taiwan|overseas|abroad"
)
REGION_GROUPS = {"港澳台": ("香港", "澳门", "台湾"), "内蒙": ("内蒙古",), "偏远": ("偏远地区",)}
REGION_OF_CITY = {
    **dict.fromkeys(("乌鲁木齐", "喀什", "伊犁", "克拉玛依", "库尔勒", "xinjiang"), "新疆"),
    **dict.fromkeys(("拉萨", "日喀则", "林芝", "tibet"), "西藏"),
    "西宁": "青海",
    "银川": "宁夏",
    "兰州": "甘肃",
    "呼和浩特": "内蒙古",
    **dict.fromkeys(("海口", "三亚"), "海南"),
    "hongkong": "香港",
    "macau": "澳门",
    "taiwan": "台湾",
}
# Saying a region is left out of an offer.
EXCLUSION_WORDS = (
    r"除外|除.{1,20}外|除了|不包邮|不参与|不参加|不享受|不在.{0,6}范围|不支持|except|excluded|not\s+included"
)

# Something wrong with what arrived: a demand for money that comes with one of these is a grievance (a person
# looks at the order), not bargaining.
DEFECT_WORDS = (
    r"开线|破洞|破了|瑕疵|质量(有)?问题|坏了|坏的|掉色|褪色|起球|漏(了|液)|脏(了|的)|少发|漏发|发错|错发|缺件|变形|有味|异味"
    r"|过期|不新鲜|发霉|霉味|受潮|潮了|变质|有虫|结块|漏液|碎了|压坏|损坏|破损|色差|缩水|烂了|过敏|红肿|刺痛"
)
DEFECT_WORDS_EN = r"broken|damaged|defect\w*|torn|ripped|hole|faded|wrong\s+item|missing|expired|leak\w*"
COMPENSATION_WORDS = r"赔偿|赔付|赔钱|补偿|补差价|补差|返现|返利|折现"
RED_PACKET = r"红包"
COMPENSATION_WORDS_EN = r"compensat[a-z]*|cash\s*back|store\s+credit"

# --- measures -----------------------------------------------------------------------------------------------------

# The measures of a garment in a size guide ("M：胸围106cm，衣长69cm").
GARMENT_MEASURES = r"胸围|腰围|臀围|衣长|裙长|裤长|肩宽|袖长"
BODY_MEASURES = r"身高|体重"
WEIGHT_UNITS = r"斤|kg|公斤|千克"
LENGTH_UNITS = r"cm|厘米|公分"
# Letter sizes, longest first (xxl before xl before l).
LETTER_SIZES = r"xxxl|xxl|3xl|2xl|xs|xl|s|m|l"
# Asking which size to take.
SIZE_QUESTION = (
    r"什么码|哪个码|哪一码|几码|多大码|多大的码|选.{0,3}码|穿.{0,3}码|码数|尺码|号码|什么号|多大号|which size|what size"
)

# Asking how a product fits: answered from its cut and the note of its size guide.
FIT_QUESTION = (
    r"偏大|偏小|尺码准|码数准|尺码标准|标准码|正码|宽松吗|修身吗|大码还是小码|(会|会不会)(偏)?(大|小)|大不大|小不小"
    r"|版型|run\s+(small|large|big)|true\s+to\s+size"
)

# Attribute names a store may use, grouped by idea, with the words a shopper asks each idea by. A question with
# any of the words asks for the product's attribute whose name is in the group ("什么材质" -> 面料). A store's
# other attribute names ("功率", "适用肤质") are asked by their own name.
ATTRIBUTE_ASKS: dict[str, str] = {
    "面料|材质|材料|成分|用料": (
        r"面料|材质|材料|什么料|成分|用料|什么做的|纯棉的?吗|是棉的|含棉"
        r"|含(不含)?(羊毛|棉|麻|真丝|丝|涤纶|聚酯|氨纶|粘纤|锦纶)|made\s+of|material|fabric"
    ),
    "配料|原料|成分|主要成分|配料表": r"配料|原料|成分|什么做的|添加剂|ingredients?",
    "克重|净含量|重量|规格|容量|净重": (
        r"克重|净含量|重量|净重|多少克|几克|多重|厚不厚|容量|多少毫升|几毫升|多大瓶|多大容量|规格"
    ),
    "产地|产区|原产地": r"产地|产区|哪里产|哪产的|哪里出产|原产|made\s+in",
    "保质期|有效期": r"保质期|有效期|能放多久|放多久|过期|保存多久|能保存|shelf\s+life|expir",
    "颜色|色号": r"颜色|什么色|几个色|哪些色|几种色|色号|colou?rs?",
    "尺码|尺寸": r"尺码|哪些码|几个码|什么码|尺寸|多大码|sizes?",
    "季节": r"季节|什么时候穿|春天|夏天|秋天|冬天",
}

# English shopping words and the Chinese words a Chinese store's data uses for them: an English question is
# looked up in the store's (Chinese) knowledge base with these added. Generic, like every list here.
ENGLISH_SHOP_TERMS: tuple[tuple[str, str], ...] = (
    (r"ship\w*|dispatch\w*|send\s+out", "发货"),
    (r"deliver\w*|arriv\w*|receiv\w*|get\s+it", "收到 到货"),
    (r"how\s+long|how\s+many\s+days|when", "多久"),
    (r"courier|express|carrier|tracking", "快递"),
    (r"free\s+shipping|shipping\s+(fee|cost)|postage", "包邮 运费"),
    (r"return\w*", "退货 退换"),
    (r"refund\w*", "退款"),
    (r"exchang\w*|swap", "换货"),
    (r"invoice|receipt|fapiao", "发票"),
    (r"pay\w*|alipay|wechat\s+pay|cash\s+on\s+delivery", "付款方式 支付"),
    (r"size\w*|fit\w*", "尺码"),
    (r"in\s+stock|stock|available|sold\s+out|restock\w*", "现货 有货 补货"),
    (r"price|cost|how\s+much", "价格"),
    (r"material|fabric|made\s+of|cotton", "面料 材质"),
    (r"wash\w*|laundry|clean\w*|care", "洗涤 怎么洗"),
    (r"shrink\w*", "缩水"),
    (r"member\w*|vip", "会员"),
    (r"discount\w*|promotion\w*|offer\w*|deal\w*|sale", "优惠 活动"),
    (r"gift\w*|freebie\w*", "赠品"),
    (r"address", "地址 修改地址"),
    (r"cancel\w*", "取消订单"),
    (r"quality|defect\w*|damaged|broken|hole", "质量问题"),
    (r"warehouse|where.{0,12}(ship|send)\w*\s+from", "发货地"),
    (r"customer\s+service\s+hours|opening\s+hours|online\s+hours", "客服时间 在线时间"),
)

# Attributes whose values are choices a shopper picks one of (a colour, a size, a flavour): "白色的有吗" asks
# whether the product comes in it. Other attributes (ingredients, materials) are facts: asked about, they are
# shown whole, and never read as "has no X".
OPTION_KEYS = r"颜色|颜色分类|色号|尺码|尺寸|规格|型号|款式|口味|味道|容量|版本|香型|包装|套餐"

# --- is it about the shop at all ----------------------------------------------------------------------------------

# A message with any of these is about shopping in any shop, whatever chit-chat words it also contains. What a
# store sells (dresses, tea, toys) is not here: the store's own data says that (engine/vocabulary.py). 穿, 洗,
# 透气, fabric and fit stay: they are how shoppers ask about wearing and keeping goods (clothes, shoes, bags,
# bedding), also where a store's data does not use the word.
SHOP_WORDS: tuple[str, ...] = (
    rf"商品|宝贝|颜色|色差|材质|透气|厚|薄|{STOCK_WORDS}|{RESTOCK_WORDS}",
    rf"发货|快递|物流|包裹|到货|收货|签收|地址|{SHIPPING_FEE_WORDS}|{FREE_SHIPPING_WORDS}",
    r"退|换货|售后|质量|订单|下单|拍下|付款|支付|发票|开票",
    rf"{PRICE_WORDS}|块钱|\d+元|{PROMOTION_WORDS}|会员|洗|尺寸|穿|买|购|店",
    word(r"size|sizes|sizing|fit|stock|ship\w*|deliver\w*|return\w*|refund\w*|exchange|price|cost|order\w*|invoice"),
    word(r"pay\w*|material|fabric|wash\w*|colou?rs?|express|courier"),
)

# Talk that is about no shop: weather, jokes, homework, the news, the assistant itself.
CHITCHAT_WORDS: tuple[str, ...] = (
    r"天气|下雨|气温|笑话|段子|讲个故事|讲故事|写(一首|首|个|段)?(诗|作文|文章|小说|代码|程序|脚本)|代码|编程",
    r"你是(不是)?(个|一个)?(ai|人工智能|真人|人|程序|bot|谁|男|女)|你叫(什么|啥)|你的名字|你几岁|你多大了|你住",
    r"数学|算术|方程|作业|\d+\s*[-+*/×÷]\s*\d+\s*(=|等于)",
    r"股票|股市|基金|炒股|比特币|彩票|理财|政治|总统|主席|选举|政府|战争|新闻|体育|足球|篮球|世界杯",
    r"电影|电视剧|唱(首|个)?歌|听歌|游戏|星座|算命|菜谱|做饭|旅游|男朋友|女朋友|谈恋爱|陪我聊|聊聊天|好无聊",
    r"(找你|陪我|跟你|和你)(聊|玩)|闲聊|无聊|聊天吗|哭(了|出来|死)|坏坏|你(真|好)?(可爱|漂亮|帅)",
    word(r"weather|jokes?|poem|poetry|story|song|sing|code|coding|python|javascript|program\w*|math\w*|homework"),
    word(r"stocks?|bitcoin|crypto\w*|president|politic\w*|election|news|movie|football|soccer|recipe|translate"),
    word(r"capital\s+of|population\s+of|meaning\s+of\s+life|who\s+(won|invented|discovered|wrote)"),
    word(
        r"who\s+are\s+you|what(\s+is|'s)\s+your\s+name|are\s+you\s+(a\s+)?(bot|robot|ai|human|real)|how\s+old\s+are\s+you"
    ),
)

# Words every store's FAQ is full of that say nothing about what it sells: when, who, where from, asking and
# doing. As store vocabulary they would make "今天天气怎么样" a question about a shop whose FAQ asks
# "今天下单今天发吗". (Particles and bare question words are already dropped by retrieve.STOP_WORDS.)
GENERIC_WORDS = frozenset(
    (  # noqa: SIM905 - a word list reads best as words
        "今天 明天 后天 昨天 前天 现在 最近 马上 早上 上午 中午 下午 晚上 白天 平时 周末 今年 明年 去年 "
        "时候 时间 日期 以后 之前 之后 一般 一直 经常 多久 多长 多少 几天 几点 几个 哪里 哪儿 哪家 "
        "怎么办 为什么 是不是 能不能 可不可以 还是 或者 还有 已经 可能 应该 是否 "
        "喜欢 想要 需要 知道 觉得 推荐 支持 成为 申请 回来 收到 建议 适合 适宜 不想 不要 "
        "问题 东西 方式 情况 地方 地区 事情 条件 长期 同时 一些 一次 每次 "
        "客户 老客 顾客 小孩 孩子 朋友 家人 大家 自己 别人 公司 单位 企业 "
        "人工 客服 在线 上班"
    ).split()
)
# The first character of a two-character word that is how a question is asked ("能退吗", "还会有吗", "要放冰箱吗"):
# an auxiliary or adverb joined to the verb. Such a word in a store's FAQ says nothing about what it sells.
ASKING_AUXILIARIES = frozenset("能会要还可想该别不没也都就再又很太更最已")
