"""Labelled search queries for the ``query_intent`` model, drawn from templates.

The generator's vocabulary (:mod:`streams.synthetic.vocabulary`: brands, product nouns,
modifiers in English, Chinese and Spanish) is extended here with more product nouns,
category attributes, price and audience phrases, Chinese brand names, misspellings and
code-switched (mixed-language) queries. A query is a *template* of one language with
its slots filled; its labels are the category of its product noun and the language of
its template. Training and held-out queries come from disjoint template sets, so the
held-out accuracy measures queries shaped unlike anything seen in training.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from schemas.common import CATEGORIES
from streams.synthetic.draws import QUERY_BRAND_SHARE, QUERY_MODIFIER_SHARE
from streams.synthetic.vocabulary import BRANDS, LANGUAGES, MODIFIERS, PRODUCT_NOUNS, compose_query

EXTRA_NOUNS: Final[dict[str, tuple[tuple[str, str, str], ...]]] = {
    "electronics": (
        ("tablet", "平板电脑", "tableta"), ("headphones", "头戴式耳机", "cascos"), ("monitor", "显示器", "monitor"),
        ("keyboard", "键盘", "teclado"), ("digital camera", "数码相机", "cámara digital"),
        ("wifi router", "路由器", "router wifi"), ("external hard drive", "移动硬盘", "disco duro externo"),
        ("smartphone", "智能手机", "teléfono móvil"), ("screen protector", "手机膜", "protector de pantalla"),
        ("game console", "游戏机", "videoconsola"),
    ),
    "fashion": (
        ("sunglasses", "太阳镜", "gafas de sol"), ("wool sweater", "羊毛衫", "jersey de lana"),
        ("high heels", "高跟鞋", "zapatos de tacón"), ("leather belt", "皮带", "cinturón de cuero"),
        ("backpack", "双肩包", "mochila"), ("socks", "袜子", "calcetines"), ("baseball cap", "棒球帽", "gorra"),
        ("pajamas", "睡衣", "pijama"), ("skirt", "半身裙", "falda"), ("blouse", "衬衫", "blusa"),
    ),
    "home": (
        ("rice cooker", "电饭煲", "arrocera"), ("pillow", "枕头", "almohada"),
        ("kitchen knife", "菜刀", "cuchillo de cocina"), ("bookshelf", "书架", "estantería"),
        ("duvet", "被子", "edredón"), ("blender", "搅拌机", "batidora"),
        ("air purifier", "空气净化器", "purificador de aire"), ("dinner plates", "餐盘", "vajilla"),
        ("electric kettle", "电水壶", "hervidor eléctrico"), ("sofa", "沙发", "sofá"),
    ),
    "beauty": (
        ("foundation", "粉底液", "base de maquillaje"), ("moisturizer", "保湿乳", "crema hidratante"),
        ("eye shadow", "眼影", "sombra de ojos"), ("face mask", "面膜", "mascarilla facial"),
        ("conditioner", "护发素", "acondicionador"), ("body lotion", "身体乳", "loción corporal"),
        ("cleanser", "洗面奶", "limpiador facial"), ("toner", "爽肤水", "tónico facial"),
        ("eyeliner", "眼线笔", "delineador de ojos"), ("electric shaver", "电动剃须刀", "afeitadora eléctrica"),
    ),
    "sports": (
        ("basketball", "篮球", "balón de baloncesto"), ("golf clubs", "高尔夫球杆", "palos de golf"),
        ("resistance bands", "弹力带", "bandas elásticas"), ("skateboard", "滑板", "monopatín"),
        ("ski goggles", "滑雪镜", "gafas de esquí"), ("camping tent", "帐篷", "tienda de campaña"),
        ("jump rope", "跳绳", "comba"), ("protein shaker", "摇摇杯", "mezclador de proteínas"),
        ("hiking boots", "登山鞋", "botas de montaña"), ("mountain bike", "山地自行车", "bicicleta de montaña"),
    ),
    "grocery": (
        ("honey", "蜂蜜", "miel"), ("milk powder", "奶粉", "leche en polvo"),
        ("peanut butter", "花生酱", "crema de cacahuete"), ("soy sauce", "酱油", "salsa de soja"),
        ("nuts", "坚果", "frutos secos"), ("orange juice", "橙汁", "zumo de naranja"), ("oatmeal", "燕麦片", "avena"),
        ("black tea", "红茶", "té negro"), ("sparkling water", "气泡水", "agua con gas"),
        ("potato chips", "薯片", "patatas fritas"),
    ),
    "toys": (
        ("kite", "风筝", "cometa"), ("toy train", "玩具火车", "tren de juguete"),
        ("dinosaur toy", "恐龙玩具", "dinosaurio de juguete"), ("play dough", "橡皮泥", "plastilina"),
        ("rubik's cube", "魔方", "cubo de rubik"), ("baby rattle", "摇铃", "sonajero"),
        ("toy kitchen", "玩具厨房", "cocinita de juguete"), ("magnetic tiles", "磁力片", "bloques magnéticos"),
        ("stuffed animal", "毛绒玩具", "peluche"), ("drone for kids", "儿童无人机", "dron para niños"),
    ),
    "books": (
        ("novel", "小说", "novela"), ("dictionary", "词典", "diccionario"), ("textbook", "教材", "libro de texto"),
        ("poetry collection", "诗集", "poemario"), ("fantasy novel", "奇幻小说", "novela fantástica"),
        ("picture book", "绘本", "libro ilustrado"), ("romance novel", "言情小说", "novela romántica"),
        ("business book", "商业书籍", "libro de negocios"), ("manga", "日本漫画", "manga"),
        ("audiobook", "有声书", "audiolibro"),
    ),
}  # fmt: skip
"""More product nouns per category as (English, Chinese, Spanish) translations of one product."""

ATTRIBUTES: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "electronics": ("wireless", "waterproof", "128gb", "noise cancelling", "fast charging", "refurbished",
                        "portable", "usb-c"),
        "fashion": ("cotton", "slim fit", "size m", "oversized", "linen", "vintage", "plus size", "leather"),
        "home": ("stainless steel", "king size", "non-stick", "5l", "ergonomic", "bamboo", "energy saving",
                 "compact"),
        "beauty": ("spf 50", "for dry skin", "vegan", "matte", "fragrance free", "anti aging", "sensitive skin",
                   "long lasting"),
        "sports": ("for beginners", "adjustable", "10kg", "professional", "lightweight", "outdoor", "carbon fiber",
                   "for training"),
        "grocery": ("organic", "1kg", "sugar free", "gluten free", "family pack", "imported", "decaf", "low fat"),
        "toys": ("for 3 year olds", "educational", "stem", "wooden", "battery operated", "for toddlers",
                 "glow in the dark", "100 pieces"),
        "books": ("paperback", "hardcover", "bestseller", "second edition", "signed copy", "box set", "in english",
                  "large print"),
    },
    "zh": {
        "electronics": ("无线", "防水", "128g", "降噪", "快充", "二手", "便携", "type-c"),
        "fashion": ("纯棉", "修身", "m码", "宽松", "亚麻", "复古", "大码", "真皮"),
        "home": ("不锈钢", "双人", "不粘", "5升", "人体工学", "竹制", "节能", "小型"),
        "beauty": ("spf50", "干皮", "纯植物", "哑光", "无香", "抗衰老", "敏感肌", "持久"),
        "sports": ("初学者", "可调节", "10公斤", "专业", "轻量", "户外", "碳纤维", "训练用"),
        "grocery": ("有机", "1公斤", "无糖", "无麸质", "家庭装", "进口", "低脂", "整箱"),
        "toys": ("3岁", "益智", "早教", "木质", "电动", "幼儿", "夜光", "100片"),
        "books": ("平装", "精装", "畅销", "第二版", "签名版", "套装", "英文原版", "大字版"),
    },
    "es": {
        "electronics": ("inalámbrico", "resistente al agua", "128gb", "con cancelación de ruido", "carga rápida",
                        "reacondicionado", "de bolsillo", "usb-c"),
        "fashion": ("de algodón", "ajustado", "talla m", "oversize", "de lino", "vintage", "talla grande", "de piel"),
        "home": ("de acero inoxidable", "de matrimonio", "antiadherente", "5 litros", "ergonómica", "de bambú",
                 "de bajo consumo", "compacta"),
        "beauty": ("spf 50", "para piel seca", "vegano", "mate", "sin perfume", "antiedad", "piel sensible",
                   "larga duración"),
        "sports": ("para principiantes", "ajustable", "10 kg", "profesional", "ligero", "para exterior",
                   "de fibra de carbono", "de entrenamiento"),
        "grocery": ("ecológico", "1 kg", "sin azúcar", "sin gluten", "pack familiar", "importado", "descafeinado",
                    "bajo en grasa"),
        "toys": ("para 3 años", "educativo", "stem", "de madera", "a pilas", "para bebés", "que brilla en la oscuridad",
                 "de 100 piezas"),
        "books": ("tapa blanda", "tapa dura", "superventas", "segunda edición", "edición firmada",
                  "colección completa", "en inglés", "letra grande"),
    },
}  # fmt: skip
"""Words that narrow a product within its category (they carry category signal too)."""

PRICE_PHRASES: Final[dict[str, tuple[str, ...]]] = {
    "en": ("under ${n}", "less than {n} dollars", "below ${n}", "around ${n}"),
    "zh": ("{n}元以内", "{n}块以下", "{n}元左右", "不超过{n}元"),
    "es": ("menos de {n} euros", "por menos de {n}€", "hasta {n} pesos", "unos {n} euros"),
}
PRICE_AMOUNTS: Final[tuple[int, ...]] = (10, 20, 30, 50, 80, 100, 150, 200, 300, 500, 1000)

AUDIENCES: Final[dict[str, tuple[str, ...]]] = {
    "en": ("for mom", "for dad", "for my wife", "for boys", "for girls", "for teens", "for students"),
    "zh": ("送妈妈", "送爸爸", "送女朋友", "男孩", "女孩", "学生", "送老师"),
    "es": ("para mamá", "para papá", "para mi novia", "para niño", "para niña", "para adolescentes", "para estudiantes"),
}

ZH_BRAND_NAMES: Final[dict[str, str]] = {
    "apple": "苹果", "samsung": "三星", "xiaomi": "小米", "sony": "索尼", "huawei": "华为", "lenovo": "联想",
    "nike": "耐克", "adidas": "阿迪达斯", "uniqlo": "优衣库", "gucci": "古驰", "ikea": "宜家", "dyson": "戴森",
    "philips": "飞利浦", "midea": "美的", "bosch": "博世", "muji": "无印良品", "l'oreal": "欧莱雅",
    "nivea": "妮维雅", "shiseido": "资生堂", "maybelline": "美宝莲", "clinique": "倩碧", "estee lauder": "雅诗兰黛",
    "dove": "多芬", "decathlon": "迪卡侬", "puma": "彪马", "garmin": "佳明", "yonex": "尤尼克斯",
    "under armour": "安德玛", "nestle": "雀巢", "danone": "达能", "coca-cola": "可口可乐", "oreo": "奥利奥",
    "lipton": "立顿", "lego": "乐高", "mattel": "美泰", "hasbro": "孩之宝", "barbie": "芭比",
    "fisher-price": "费雪", "penguin": "企鹅", "scholastic": "学乐",
}  # fmt: skip
"""How Chinese shoppers write the brands that have a Chinese name."""

TRAIN_TEMPLATES: Final[dict[str, tuple[str, ...]]] = {
    "en": (
        "{noun}", "{brand} {noun}", "{noun} {modifier}", "{brand} {noun} {modifier}", "{modifier} {noun}",
        "{attribute} {noun}", "{brand} {attribute} {noun}", "{noun} {attribute}", "buy {noun} online",
        "{noun} {price}", "{brand} {noun} {price}", "{noun} {audience}", "i need a {noun}", "{noun} for sale",
        "new {brand} {noun} {attribute}",
    ),
    "zh": (
        "{noun}", "{brand}{noun}", "{noun}{modifier}", "{brand}{noun}{modifier}", "{modifier}{noun}",
        "{attribute}{noun}", "{brand} {attribute}{noun}", "{noun} {attribute}", "{noun}{price}",
        "{brand}{noun} {price}", "{audience}{noun}", "买{noun}", "我想买{noun}", "{noun}多少钱",
        "{brand}{attribute}{noun}正品",
    ),
    "es": (
        "{noun}", "{brand} {noun}", "{noun} {brand}", "{noun} {modifier}", "{noun} {attribute}",
        "{noun} {brand} {attribute}", "comprar {noun}", "{noun} {price}", "{noun} {audience}",
        "{noun} {attribute} {modifier}", "{brand} {noun} {price}", "{modifier} {noun}", "quiero {noun}",
        "necesito {noun} {attribute}", "{noun} en venta {brand}",
    ),
}  # fmt: skip
"""Templates the model is fitted on; they include the synthetic generator's own query shapes."""

HELD_OUT_TEMPLATES: Final[dict[str, tuple[str, ...]]] = {
    "en": (
        "best {attribute} {noun} {price}", "where to buy {brand} {noun}", "{noun} by {brand}",
        "{modifier} {brand} {noun} {audience}", "looking for {attribute} {noun}", "{brand} {noun} reviews",
        "{noun} deals", "top rated {noun} {modifier}", "{attribute} {noun} from {brand}",
        "{noun} gift ideas {audience}",
    ),
    "zh": (
        "{noun}哪个牌子好", "{brand}{noun}怎么样", "{price}的{attribute}{noun}", "求推荐{noun}",
        "{modifier}{brand}{noun}{audience}", "{attribute}{noun}推荐", "{brand}官方{noun}", "性价比高的{noun}",
        "{noun}什么牌子好{modifier}", "{noun}排行榜",
    ),
    "es": (
        "mejor {noun} {attribute} {price}", "dónde comprar {noun} {brand}", "{noun} de {brand}",
        "{noun} {attribute} {audience} {modifier}", "busco {noun} {attribute}", "opiniones {noun} {brand}",
        "ofertas de {noun}", "{noun} top ventas", "{noun} {brand} precio", "ideas de regalo {noun} {audience}",
    ),
}  # fmt: skip
"""Templates kept out of fitting: the held-out set is drawn from these only."""

FILLER_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "en": ("new", "original", "online", "store", "price", "quality", "brand", "model", "shop", "discount",
           "official", "genuine", "used", "latest", "popular", "fast delivery", "in stock", "warranty"),
    "zh": ("专卖店", "旗舰", "热卖", "网购", "质量好", "实惠", "原装", "秒杀", "特价", "爆款", "同款", "现货",
           "正版", "批发", "促销", "打折"),
    "es": ("nuevo", "original", "online", "tienda", "calidad", "marca", "modelo", "descuento", "oficial", "usado",
           "último", "popular", "envío rápido", "con garantía", "en stock", "a domicilio", "outlet", "rebajas"),
}  # fmt: skip
"""Words shoppers add that say nothing about the category; never words of a held-out template."""

MIX_SHARE: Final = 0.12
"""Share of Chinese and Spanish queries whose product noun is written in English (code-switching)."""
MISSPELL_SHARE: Final = 0.15
"""Share of English and Spanish queries with one misspelt word."""
ZH_BRAND_NAME_SHARE: Final = 0.5
"""Share of Chinese queries that write a brand by its Chinese name when it has one."""
ZH_SPACE_SHARE: Final = 0.2
"""Share of Chinese queries typed with a space between brand, noun and modifier."""
FILLER_SHARE: Final = 0.35
"""Share of training queries (with ``fillers=True``) given one filler word at a random position."""
MIN_MISSPELL_LENGTH: Final = 4
LATIN_LETTERS: Final = string.ascii_lowercase
SLOT = re.compile(r"\{(\w+)\}")
ADJACENT_SLOTS = re.compile(r"\}\{")


@dataclass(frozen=True)
class Query:
    """One labelled query: its text, category, language and the template it came from."""

    text: str
    category: str
    language: str
    template: str


def nouns(language: str, category: str) -> tuple[str, ...]:
    """Every product noun of ``category`` in ``language`` (generator's first, then the extra ones).

    Examples
    --------
    >>> nouns("zh", "electronics")[:2], len(nouns("es", "books"))
    (('手机壳', '无线耳机'), 20)
    """
    index = LANGUAGES.index(language)
    return PRODUCT_NOUNS[language][category] + tuple(t[index] for t in EXTRA_NOUNS[category])


def misspell(word: str, rng: random.Random) -> str:
    """``word`` with one typing error: a letter dropped, doubled, swapped with the next or replaced.

    Words shorter than :data:`MIN_MISSPELL_LENGTH` come back unchanged.

    Examples
    --------
    >>> [misspell("samsung", random.Random(s)) for s in range(4)]
    ['samsbng', 'sasung', 'smsung', 'sammsung']
    >>> misspell("tv", random.Random(0))
    'tv'
    """
    if len(word) < MIN_MISSPELL_LENGTH:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + rng.choice(LATIN_LETTERS) + word[i + 1 :]


def _misspell_query(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= MIN_MISSPELL_LENGTH and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    words[i] = misspell(words[i], rng)
    return " ".join(words)


def _brand(rng: random.Random, category: str, language: str) -> str:
    brand = rng.choice(BRANDS[category])
    if language == "zh" and brand in ZH_BRAND_NAMES and rng.random() < ZH_BRAND_NAME_SHARE:
        return ZH_BRAND_NAMES[brand]
    return brand


def _fill(template: str, rng: random.Random, category: str, language: str) -> str:
    noun_language = "en" if language != "en" and rng.random() < MIX_SHARE else language
    slots = {
        "noun": lambda: rng.choice(nouns(noun_language, category)),
        "brand": lambda: _brand(rng, category, language),
        "modifier": lambda: rng.choice(MODIFIERS[language]),
        "attribute": lambda: rng.choice(ATTRIBUTES[language][category]),
        "price": lambda: rng.choice(PRICE_PHRASES[language]).format(n=rng.choice(PRICE_AMOUNTS)),
        "audience": lambda: rng.choice(AUDIENCES[language]),
    }
    return " ".join(SLOT.sub(lambda m: slots[m.group(1)](), template).split())


def add_filler(text: str, language: str, rng: random.Random) -> str:
    """``text`` with one :data:`FILLER_WORDS` word inserted at a random word boundary.

    Examples
    --------
    >>> add_filler("wireless earbuds", "en", random.Random(1))
    'wireless earbuds price'
    >>> add_filler("无线耳机", "zh", random.Random(1))
    '无线耳机质量好'
    """
    filler = rng.choice(FILLER_WORDS[language])
    if language == "zh":
        return filler + text if rng.random() < 0.5 else text + filler
    words = text.split(" ")
    words.insert(rng.randrange(len(words) + 1), filler)
    return " ".join(words)


def draw_query(
    rng: random.Random, templates: Mapping[str, tuple[str, ...]], language: str, fillers: bool = False
) -> Query:
    """One query of a uniformly drawn category and template of ``language``.

    Parameters
    ----------
    rng
        The source of every choice.
    templates
        Templates per language.
    language
        ``en``, ``zh`` or ``es``.
    fillers
        Augment: sometimes insert a word that says nothing about the category.

    Examples
    --------
    >>> q = draw_query(random.Random(3), TRAIN_TEMPLATES, "zh")
    >>> q.language, q.category in CATEGORIES, q.template in TRAIN_TEMPLATES["zh"]
    ('zh', True, True)
    """
    category = rng.choice(CATEGORIES)
    template = rng.choice(templates[language])
    spaced = language == "zh" and rng.random() < ZH_SPACE_SHARE
    text = _fill(ADJACENT_SLOTS.sub("} {", template) if spaced else template, rng, category, language)
    if language != "zh" and rng.random() < MISSPELL_SHARE:
        text = _misspell_query(text, rng)
    if fillers and rng.random() < FILLER_SHARE:
        text = add_filler(text, language, rng)
    return Query(text, category, language, template)


def draw_queries(
    per_language: int | Mapping[str, int],
    seed: int,
    templates: Mapping[str, tuple[str, ...]],
    label: str,
    fillers: bool = False,
) -> list[Query]:
    """Queries in each language, interleaved, deterministic for ``(label, seed)``.

    Parameters
    ----------
    per_language
        Queries per language: one count for all, or a count for each.
    seed
        Seeds the draws.
    templates
        Templates per language: :data:`TRAIN_TEMPLATES` or :data:`HELD_OUT_TEMPLATES`.
    label
        Names the stream (``"train"``, ``"calibration"``, ``"test"``) so splits never share draws.
    fillers
        Augment with filler words (training only).

    Examples
    --------
    >>> a = draw_queries(2, 0, HELD_OUT_TEMPLATES, "test")
    >>> [q.language for q in a]
    ['en', 'zh', 'es', 'en', 'zh', 'es']
    >>> a == draw_queries(2, 0, HELD_OUT_TEMPLATES, "test") != draw_queries(2, 1, HELD_OUT_TEMPLATES, "test")
    True
    >>> [q.language for q in draw_queries({"en": 1, "zh": 0, "es": 2}, 0, TRAIN_TEMPLATES, "train")]
    ['en', 'es', 'es']
    """
    counts = {language: per_language for language in LANGUAGES} if isinstance(per_language, int) else per_language
    rng = random.Random(f"query_intent/{label}/{seed}")
    return [
        draw_query(rng, templates, language, fillers)
        for i in range(max(counts.values(), default=0))
        for language in LANGUAGES
        if i < counts.get(language, 0)
    ]


def generator_queries(n_per_language: int, seed: int) -> list[Query]:
    """Queries shaped exactly like the synthetic traffic's (noun with optional brand and modifier).

    Examples
    --------
    >>> [q.text for q in generator_queries(1, 0)]
    ["children's book cheap", 'lipton橄榄油男款', 'pantalones vaqueros']
    """
    rng = random.Random(f"query_intent/generator/{seed}")
    out = []
    for _ in range(n_per_language):
        for language in LANGUAGES:
            category = rng.choice(CATEGORIES)
            noun = rng.choice(PRODUCT_NOUNS[language][category])
            brand = rng.choice(BRANDS[category]) if rng.random() < QUERY_BRAND_SHARE else None
            modifier = rng.choice(MODIFIERS[language]) if rng.random() < QUERY_MODIFIER_SHARE else None
            out.append(Query(compose_query(noun, brand, modifier, language), category, language, "generator"))
    return out


def translation_pairs() -> list[tuple[str, str]]:
    """(Chinese, English) pairs of one meaning: product nouns, category attributes and brand names.

    Examples
    --------
    >>> pairs = translation_pairs()
    >>> ("手机壳", "iphone case") in pairs, ("无线", "wireless") in pairs, ("苹果", "apple") in pairs
    (True, True, True)
    """
    pairs = [(zh, en) for category in CATEGORIES for zh, en in zip(nouns("zh", category), nouns("en", category))]
    pairs += [
        (zh, en)
        for category in CATEGORIES
        for zh, en in zip(ATTRIBUTES["zh"][category], ATTRIBUTES["en"][category], strict=True)
    ]
    return pairs + [(zh, en) for en, zh in ZH_BRAND_NAMES.items()]


def training_characters() -> list[str]:
    """The distinct CJK ideographs training queries can contain, sorted: the tokenizer learns these.

    They come from every slot value, filler word and training template; characters that only
    held-out templates use stay unknown to the tokenizer, as unseen words would in production.

    Examples
    --------
    >>> chars = training_characters()
    >>> "壳" in chars, "哪" in chars, chars == sorted(set(chars))
    (True, False, True)
    """
    texts = [t for templates in TRAIN_TEMPLATES.values() for t in templates]
    texts += [noun for language in LANGUAGES for category in CATEGORIES for noun in nouns(language, category)]
    texts += [a for per_category in ATTRIBUTES.values() for values in per_category.values() for a in values]
    tables = (MODIFIERS, AUDIENCES, PRICE_PHRASES, FILLER_WORDS)
    texts += [w for table in tables for values in table.values() for w in values]
    texts += [b for brands in BRANDS.values() for b in brands] + list(ZH_BRAND_NAMES.values())
    return sorted({ch for text in texts for ch in text if is_cjk(ch)})


def is_cjk(ch: str) -> bool:
    """Whether ``ch`` is a CJK unified ideograph (basic block or extension A).

    Examples
    --------
    >>> is_cjk("壳"), is_cjk("a"), is_cjk("é")
    (True, False, False)
    """
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"
