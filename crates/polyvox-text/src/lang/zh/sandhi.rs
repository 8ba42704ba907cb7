//! Tone sandhi and the readings a per-character pinyin table gets wrong.
//!
//! The `pinyin` crate gives each character its most common reading, which is wrong for
//! polyphonic characters in some words (银行 yín**háng**, 音乐 yīn**yuè**) and for the neutral
//! tone of particles and second syllables (的 de, 朋友 péngyou). A small table of frequent words
//! fixes those. Then the sandhi rules of spoken Mandarin, over a run of words between pauses:
//! 不 becomes bú before a falling tone; 一 becomes yí before a falling tone and yì before the others,
//! except in numbers and ordinals; a low tone before a low tone rises (你好 ní hǎo), inside a word
//! and from a one-syllable word into the next.

/// One syllable: its character, pinyin letters and tone (1-4, 5 = neutral).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Syl {
    pub ch: char,
    pub py: String,
    pub tone: u8,
}

/// Whole-word readings that beat the per-character table.
const WORDS: &[(&str, &str)] = &[
    ("银行", "yin2 hang2"),
    ("行业", "hang2 ye4"),
    ("长大", "zhang3 da4"),
    ("校长", "xiao4 zhang3"),
    ("市长", "shi4 zhang3"),
    ("成长", "cheng2 zhang3"),
    ("长城", "chang2 cheng2"),
    ("重新", "chong2 xin1"),
    ("重复", "chong2 fu4"),
    ("重要", "zhong4 yao4"),
    ("音乐", "yin1 yue4"),
    ("睡觉", "shui4 jiao4"),
    ("觉得", "jue2 de5"),
    ("爱好", "ai4 hao4"),
    ("因为", "yin1 wei4"),
    ("为了", "wei4 le5"),
    ("为什么", "wei4 shen2 me5"),
    ("什么", "shen2 me5"),
    ("怎么", "zen3 me5"),
    ("这么", "zhe4 me5"),
    ("那么", "na4 me5"),
    ("便宜", "pian2 yi5"),
    ("得到", "de2 dao4"),
    ("东西", "dong1 xi5"),
    ("朋友", "peng2 you5"),
    ("先生", "xian1 sheng5"),
    ("知道", "zhi1 dao5"),
    ("喜欢", "xi3 huan5"),
    ("谢谢", "xie4 xie5"),
    ("衣服", "yi1 fu5"),
    ("还是", "hai2 shi4"),
    ("还有", "hai2 you3"),
    ("还", "hai2"),
    ("都", "dou1"),
    ("了", "le5"),
    ("的", "de5"),
    ("得", "de5"),
    ("地", "de5"),
    ("着", "zhe5"),
    ("吗", "ma5"),
    ("呢", "ne5"),
    ("吧", "ba5"),
    ("啊", "a5"),
    ("个", "ge4"),
    ("和", "he2"),
    ("大夫", "dai4 fu5"),
    ("差不多", "cha4 bu4 duo1"),
    ("出差", "chu1 chai1"),
    ("头发", "tou2 fa4"),
    ("处理", "chu3 li3"),
    ("地方", "di4 fang5"),
    ("明白", "ming2 bai5"),
    ("时候", "shi2 hou5"),
    ("孩子", "hai2 zi5"),
    ("桌子", "zhuo1 zi5"),
    ("事情", "shi4 qing5"),
    ("名字", "ming2 zi5"),
    ("天气", "tian1 qi4"),
    ("一会儿", "yi2 hui4 er5"),
    ("数据", "shu4 ju4"),
    ("调查", "diao4 cha2"),
    ("中国", "zhong1 guo2"),
];

/// A word's syllables from the table, if it is there.
pub(crate) fn word_reading(word: &str) -> Option<Vec<Syl>> {
    let (_, py) = WORDS.iter().find(|(w, _)| *w == word)?;
    let sylls: Vec<Syl> = word
        .chars()
        .zip(py.split(' '))
        .map(|(ch, p)| {
            let (letters, tone) = p.split_at(p.len() - 1);
            Syl {
                ch,
                py: letters.to_owned(),
                tone: tone.parse().unwrap_or(5),
            }
        })
        .collect();
    (sylls.len() == word.chars().count()).then_some(sylls)
}

/// Neutral tones the table does not list: the plural 们 and reduplicated kinship terms (妈妈).
pub(crate) fn neutralize(sylls: &mut [Syl]) {
    let n = sylls.len();
    if n >= 2 && sylls[n - 1].ch == '们' {
        sylls[n - 1].tone = 5;
    }
    if n == 2 && sylls[0].ch == sylls[1].ch && "妈爸哥姐弟妹奶爷叔婶舅姑".contains(sylls[0].ch)
    {
        sylls[1].tone = 5;
    }
}

/// Applies 不, 一 and third-tone sandhi to a run of words (`numeric` marks number words).
pub(crate) fn apply(words: &mut [(Vec<Syl>, bool)]) {
    // Positions (word, syllable) in reading order, so rules can see across word boundaries.
    let pos: Vec<(usize, usize)> = words
        .iter()
        .enumerate()
        .flat_map(|(w, (s, _))| (0..s.len()).map(move |k| (w, k)))
        .collect();
    let tone = |words: &[(Vec<Syl>, bool)], p: (usize, usize)| words[p.0].0[p.1].tone;
    let original: Vec<u8> = pos.iter().map(|&p| tone(words, p)).collect();
    for (i, &(w, k)) in pos.iter().enumerate() {
        let next = original.get(i + 1).copied();
        let prev_ch = i.checked_sub(1).map(|j| words[pos[j].0].0[pos[j].1].ch);
        let (sylls, numeric) = &mut words[w];
        let s = &mut sylls[k];
        match (s.ch, next) {
            ('不', Some(4)) if s.tone == 4 => s.tone = 2,
            ('一', Some(n)) if s.tone == 1 && !*numeric && prev_ch != Some('第') => {
                s.tone = if matches!(n, 4 | 5) { 2 } else { 4 }
            }
            _ => {}
        }
    }
    // Low-low: inside a word, and from a one-syllable word into the next word.
    for i in 0..pos.len().saturating_sub(1) {
        let (a, b) = (pos[i], pos[i + 1]);
        if original[i] != 3 || original[i + 1] != 3 {
            continue;
        }
        let same_word = a.0 == b.0;
        let short = words[a.0].0.len() == 1 || words[b.0].0.len() == 1;
        if same_word || short {
            words[a.0].0[a.1].tone = 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &[(char, &str, u8)], numeric: bool) -> (Vec<Syl>, bool) {
        (
            s.iter()
                .map(|&(ch, py, tone)| Syl {
                    ch,
                    py: py.into(),
                    tone,
                })
                .collect(),
            numeric,
        )
    }

    fn tones(words: &[(Vec<Syl>, bool)]) -> Vec<u8> {
        words
            .iter()
            .flat_map(|(s, _)| s.iter().map(|x| x.tone))
            .collect()
    }

    #[test]
    fn bu_yi_and_third_tone() {
        let mut a = vec![w(&[('不', "bu", 4)], false), w(&[('是', "shi", 4)], false)];
        apply(&mut a);
        assert_eq!(tones(&a), [2, 4]);
        let mut a = vec![w(&[('一', "yi", 1), ('天', "tian", 1)], false)];
        apply(&mut a);
        assert_eq!(tones(&a), [4, 1]);
        let mut a = vec![w(&[('一', "yi", 1)], false), w(&[('个', "ge", 4)], false)];
        apply(&mut a);
        assert_eq!(tones(&a), [2, 4]);
        let mut a = vec![
            w(&[('十', "shi", 2), ('一', "yi", 1)], true),
            w(&[('个', "ge", 4)], false),
        ];
        apply(&mut a);
        assert_eq!(tones(&a), [2, 1, 4], "numbers keep yi1");
        let mut a = vec![w(&[('你', "ni", 3), ('好', "hao", 3)], false)];
        apply(&mut a);
        assert_eq!(tones(&a), [2, 3]);
        let mut a = vec![w(
            &[('展', "zhan", 3), ('览', "lan", 3), ('馆', "guan", 3)],
            false,
        )];
        apply(&mut a);
        assert_eq!(tones(&a), [2, 2, 3]);
    }

    #[test]
    fn table_and_neutral_tones() {
        let r = word_reading("银行").unwrap();
        assert_eq!((r[1].py.as_str(), r[1].tone), ("hang", 2));
        assert!(word_reading("苹果").is_none());
        let mut m = vec![
            Syl {
                ch: '妈',
                py: "ma".into(),
                tone: 1,
            },
            Syl {
                ch: '妈',
                py: "ma".into(),
                tone: 1,
            },
        ];
        neutralize(&mut m);
        assert_eq!(m[1].tone, 5);
    }
}
