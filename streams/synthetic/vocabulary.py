"""Real shopping vocabulary per category and language: brands, product nouns, query modifiers.

Queries mix a product noun with an optional brand and modifier, so the same
category is searched in English, Chinese and Spanish (DESIGN.md §3 query intent).
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final[tuple[str, ...]] = ("en", "zh", "es")

BRANDS: Final[dict[str, tuple[str, ...]]] = {
    "electronics": ("apple", "samsung", "xiaomi", "sony", "anker", "huawei", "lenovo", "jbl"),
    "fashion": ("nike", "zara", "uniqlo", "adidas", "levi's", "h&m", "mango", "gucci"),
    "home": ("ikea", "dyson", "philips", "tefal", "muji", "midea", "bosch", "le creuset"),
    "beauty": ("l'oreal", "nivea", "shiseido", "maybelline", "clinique", "estee lauder", "sk-ii", "dove"),
    "sports": ("decathlon", "nike", "adidas", "puma", "wilson", "garmin", "yonex", "under armour"),
    "grocery": ("nestle", "danone", "lavazza", "kellogg's", "barilla", "coca-cola", "oreo", "lipton"),
    "toys": ("lego", "mattel", "hasbro", "barbie", "hot wheels", "playmobil", "nerf", "fisher-price"),
    "books": (
        "penguin", "harpercollins", "planeta", "anagrama", "中信出版社", "o'reilly", "scholastic", "alfaguara",
    ),
}

PRODUCT_NOUNS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "electronics": ("iphone case", "wireless earbuds", "phone charger", "laptop", "usb-c cable",
                        "bluetooth speaker", "smart watch", "4k tv", "power bank", "gaming mouse"),
        "fashion": ("running shoes", "denim jacket", "summer dress", "t-shirt", "sneakers",
                    "leather handbag", "winter coat", "jeans", "silk scarf", "hoodie"),
        "home": ("air fryer", "vacuum cleaner", "bed sheets", "desk lamp", "coffee maker",
                 "storage box", "frying pan", "office chair", "curtains", "bath towel"),
        "beauty": ("face cream", "lipstick", "sunscreen", "shampoo", "mascara",
                   "perfume", "face serum", "nail polish", "hair dryer", "makeup brush"),
        "sports": ("yoga mat", "dumbbells", "tennis racket", "football", "cycling helmet",
                   "running watch", "badminton racket", "gym bag", "swim goggles", "treadmill"),
        "grocery": ("coffee beans", "green tea", "olive oil", "pasta", "breakfast cereal",
                    "chocolate", "instant noodles", "mineral water", "rice", "cookies"),
        "toys": ("building blocks", "doll house", "toy car", "puzzle", "board game",
                 "plush bear", "remote control car", "water gun", "action figure", "kids scooter"),
        "books": ("mystery novel", "cookbook", "children's book", "science fiction", "biography",
                  "history book", "self-help book", "comic book", "travel guide", "programming book"),
    },
    "zh": {
        "electronics": ("手机壳", "无线耳机", "充电器", "笔记本电脑", "数据线",
                        "蓝牙音箱", "智能手表", "电视", "充电宝", "游戏鼠标"),
        "fashion": ("跑步鞋", "牛仔夹克", "连衣裙", "T恤", "运动鞋",
                    "皮包", "羽绒服", "牛仔裤", "丝巾", "卫衣"),
        "home": ("空气炸锅", "吸尘器", "床单", "台灯", "咖啡机",
                 "收纳盒", "平底锅", "办公椅", "窗帘", "浴巾"),
        "beauty": ("面霜", "口红", "防晒霜", "洗发水", "睫毛膏",
                   "香水", "精华液", "指甲油", "吹风机", "化妆刷"),
        "sports": ("瑜伽垫", "哑铃", "网球拍", "足球", "骑行头盔",
                   "运动手表", "羽毛球拍", "健身包", "泳镜", "跑步机"),
        "grocery": ("咖啡豆", "绿茶", "橄榄油", "意大利面", "麦片",
                    "巧克力", "方便面", "矿泉水", "大米", "饼干"),
        "toys": ("积木", "娃娃屋", "玩具车", "拼图", "桌游",
                 "毛绒熊", "遥控车", "水枪", "手办", "儿童滑板车"),
        "books": ("推理小说", "菜谱", "儿童绘本", "科幻小说", "人物传记",
                  "历史书", "励志书", "漫画书", "旅游指南", "编程书"),
    },
    "es": {
        "electronics": ("funda para móvil", "auriculares inalámbricos", "cargador", "portátil", "cable usb-c",
                        "altavoz bluetooth", "reloj inteligente", "televisor 4k", "batería externa", "ratón gaming"),
        "fashion": ("zapatillas de correr", "chaqueta vaquera", "vestido de verano", "camiseta", "tenis",
                    "bolso de cuero", "abrigo de invierno", "pantalones vaqueros", "pañuelo de seda", "sudadera"),
        "home": ("freidora de aire", "aspiradora", "sábanas", "lámpara de escritorio", "cafetera",
                 "caja de almacenaje", "sartén", "silla de oficina", "cortinas", "toalla de baño"),
        "beauty": ("crema facial", "pintalabios", "protector solar", "champú", "rímel",
                   "perfume", "sérum facial", "esmalte de uñas", "secador de pelo", "brocha de maquillaje"),
        "sports": ("esterilla de yoga", "mancuernas", "raqueta de tenis", "balón de fútbol", "casco de ciclismo",
                   "reloj deportivo", "raqueta de bádminton", "bolsa de deporte", "gafas de natación",
                   "cinta de correr"),
        "grocery": ("café en grano", "té verde", "aceite de oliva", "pasta", "cereales",
                    "chocolate", "fideos instantáneos", "agua mineral", "arroz", "galletas"),
        "toys": ("bloques de construcción", "casa de muñecas", "coche de juguete", "rompecabezas", "juego de mesa",
                 "oso de peluche", "coche teledirigido", "pistola de agua", "figura de acción", "patinete infantil"),
        "books": ("novela negra", "libro de cocina", "cuento infantil", "ciencia ficción", "biografía",
                  "libro de historia", "libro de autoayuda", "cómic", "guía de viaje", "libro de programación"),
    },
}

MODIFIERS: Final[dict[str, tuple[str, ...]]] = {
    "en": ("cheap", "best", "sale", "for women", "for men", "for kids", "2026", "gift", "black", "free shipping"),
    "zh": ("便宜", "正品", "包邮", "新款", "女款", "男款", "儿童", "礼物", "黑色", "官方旗舰店"),
    "es": (
        "barato", "oferta", "para mujer", "para hombre", "para niños", "regalo", "negro", "envío gratis", "mejor", "2026",
    ),
}
"""Words shoppers add to a product noun; a modifier follows the noun in every language here."""

PAGES: Final[tuple[str, ...]] = ("/", "/deals", "/account", "/orders", "/help")
"""Pages without a product category (category pages are ``/c/<category>``)."""


def category_page(category: str) -> str:
    """The browse page of one category.

    Examples
    --------
    >>> category_page("toys")
    '/c/toys'
    """
    return f"/c/{category}"


def compose_query(noun: str, brand: str | None, modifier: str | None, language: str) -> str:
    """Join a product noun with an optional brand before and modifier after it.

    Chinese is written without spaces between words.

    Examples
    --------
    >>> compose_query("iphone case", "apple", "cheap", "en")
    'apple iphone case cheap'
    >>> compose_query("手机壳", "apple", "包邮", "zh")
    'apple手机壳包邮'
    >>> compose_query("funda para móvil", None, "barato", "es")
    'funda para móvil barato'
    """
    parts = [p for p in (brand, noun, modifier) if p]
    return ("" if language == "zh" else " ").join(parts)
