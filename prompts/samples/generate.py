"""Write the bundled sample data: small, synthetic Japanese rows in each hub dataset's schema.

Every sentence is assembled here from short phrase lists written for jaft; no dataset text is copied.
The demo and the tests read these files through `just data TASK --from prompts/samples/TASK`.
Example: `python prompts/samples/generate.py` (deterministic; rewrites the three folders).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
PRODUCTS = ["イヤホン", "炊飯器", "スニーカー", "小説", "電動歯ブラシ", "マグカップ", "リュック", "掃除機",
            "ボールペン", "腕時計", "傘", "ゲーム", "加湿器", "枕", "カメラ", "財布"]
GOOD = ["とても使いやすく、毎日愛用しています。", "期待以上の品質で大満足です。", "値段の割に丈夫で長持ちします。",
        "デザインが素敵で家族にも好評です。", "届くのが早く、梱包も丁寧でした。", "音がきれいで驚きました。"]
BAD = ["すぐに壊れてしまい残念です。", "説明と違う色が届きました。", "作りが雑で使い物になりません。",
       "二度と買わないと思います。", "問い合わせても返事がありませんでした。", "においがきつくて使えません。"]
MID = ["普通です。", "可もなく不可もなくといったところです。"]
PEOPLE = ["山田花子", "佐藤一郎", "鈴木美咲", "高橋健太", "田中直人", "伊藤由美", "渡辺翔", "中村あかり"]
PLACES = ["札幌", "仙台", "金沢", "名古屋", "京都", "神戸", "広島", "福岡", "那覇", "長野"]
FIELDS = ["物理学", "料理", "建築", "音楽", "天文学", "医学", "写真", "将棋"]
TOPICS = [("大雨", "九州北部で記録的な大雨が降り、各地で川が氾濫した。"),
          ("新駅", "市の中心部に新しい駅が開業し、多くの利用者でにぎわった。"),
          ("祭り", "伝統の夏祭りが三年ぶりに開かれ、大勢の観光客が訪れた。"),
          ("選挙", "知事選挙の投票が行われ、新人候補が初当選を果たした。"),
          ("研究", "大学の研究チームが新しい電池の材料を開発したと発表した。"),
          ("物価", "食品の値上がりが続き、家計への影響が広がっている。")]
DETAILS = ["関係者によると、対応には数週間かかる見通しだという。", "地元の住民は「こんなことは初めてだ」と話した。",
           "専門家は今後も注意が必要だと指摘している。", "政府は近く対策をまとめる方針を示した。",
           "現場には朝から多くの人が集まった。", "同様の例は過去にもあったが、規模は今回が最大とみられる。"]


def marc(rng: random.Random, n: int, split: str) -> list[dict]:
    rows = []
    for i in range(n):
        product = rng.choice(PRODUCTS)
        roll = rng.random()
        label = 2 if roll < 0.05 else (0 if roll < 0.65 else 1)  # hub ClassLabel ids; a few neutral rows
        pool = {0: GOOD, 1: BAD, 2: MID}[label]
        body = "".join(rng.sample(pool, k=rng.randint(1, 2)))
        rows.append({"sentence": f"この{product}は{body}", "label": label, "review_id": f"{split}-R{i:04d}"})
    return rows


def jsquad(rng: random.Random, n: int, split: str) -> list[dict]:
    rows = []
    for i in range(n):
        person, place, field = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(FIELDS)
        year = rng.randint(1900, 2000)
        context = (f"{person} [SEP] {person}は{year}年に{place}で生まれた日本の研究者である。"
                   f"専門は{field}で、多くの弟子を育てた。")
        kind = rng.randrange(3)
        question, answer = [(f"{person}が生まれたのはどこか？", place),
                            (f"{person}の専門は何か？", field),
                            (f"{person}が生まれたのは何年か？", f"{year}年")][kind]
        rows.append({"id": f"{split}-q{i:04d}", "title": person, "context": context, "question": question,
                     "answers": {"text": [answer], "answer_start": [context.index(answer)]},
                     "is_impossible": False})
    return rows


def xlsum(rng: random.Random, n: int, split: str) -> list[dict]:
    rows = []
    for i in range(n):
        topic, lead = rng.choice(TOPICS)
        place = rng.choice(PLACES)
        body = [f"{place}で{lead}"] + rng.sample(DETAILS, k=rng.randint(2, 5))
        if i % 10 == 0:  # a few long articles, so that shortening is exercised
            body += [rng.choice(DETAILS) for _ in range(40)]
        rows.append({"id": f"{split}-{i:05d}", "url": f"https://example.invalid/{split}/{i}",
                     "title": f"{place}の{topic}", "summary": f"{place}で{lead}", "text": "\n".join(body)})
    return rows


def main() -> None:
    rng = random.Random(0)
    plan = {"marc": (marc, {"train": 240, "validation": 60}),
            "jsquad": (jsquad, {"train": 200, "validation": 60}),
            "xlsum": (xlsum, {"train": 120, "validation": 20, "test": 40})}
    for task, (make, sizes) in plan.items():
        (HERE / task).mkdir(exist_ok=True)
        for split, n in sizes.items():
            lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in make(rng, n, split))
            (HERE / task / f"{split}.jsonl").write_text(lines, encoding="utf-8")


if __name__ == "__main__":
    main()
