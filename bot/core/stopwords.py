"""Core (answers): the common words of each language the answer ranking drops, and the stemmer it uses.

The lists are short on purpose: the words that carry no topic (articles, pronouns, auxiliaries,
question words, greetings). A question made only of these has nothing to match on.
"""

from __future__ import annotations

# ISO 639-1 (as Mastodon reports a post's language) → the Snowball algorithm for it.
SNOWBALL = {
    "ar": "arabic",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "eo": "esperanto",
    "es": "spanish",
    "et": "estonian",
    "eu": "basque",
    "fa": "persian",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "nb": "norwegian",
    "ne": "nepali",
    "nl": "dutch",
    "nn": "norwegian",
    "no": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        """
        a about above after again against all also am an and any anyone anything are aren as at be
        because been before being below between both but by can cannot could couldn did didn do does
        doesn doing don down during each either else ever few for from further get got had hadn has
        hasn have haven having he her here hers herself him himself his how however i if in into is
        isn it its itself just let ll me might more most much must mustn my myself need no nor not now
        of off ok okay on once one only or other ought our ours ourselves out over own please re really
        same shall shan she should shouldn so some someone something such than that the their theirs
        them themselves then there these they this those through to too under until up upon us ve very
        was wasn we were weren what whats when where whether which while who whom whose why will with
        won would wouldn yes yet you your yours yourself yourselves hi hello hey dear thanks thank
        folks guys quick question wondering wonder know tell anybody somebody still even way
        """
    ),
    "de": _words(
        """
        aber alle allem allen aller alles als also am an ander andere anderen auch auf aus bei beim
        bin bis bist bitte da damit dann das dass dein deine dem den denn der des dessen dich die dies
        diese diesem diesen dieser dieses dir doch dort du durch ein eine einem einen einer eines er es
        etwa euch euer eure für gegen gibt hab habe haben habt hallo hast hat hatte hattet hier hin
        ich ihm ihn ihnen ihr ihre im in ist ja jemand kann kannst keine können könnt man mein meine
        mich mir mit muss müssen nach nicht noch nun nur ob oder ohne sehr sein seine sich sie sind
        so soll sollte über um und uns unser unsere unter vom von vor war waren warum was weil welche
        welcher welches wenn wer werde werden wie wieso wir wird wo wohin woher zu zum zur danke hi hey
        gern gerne mal schon eigentlich frage
        """
    ),
    "fr": _words(
        """
        à au aux avec avez avons bonjour ce ces cet cette comme comment dans de des du elle elles en
        est et être eu eux il ils je la le les leur leurs lui ma mais me merci mes moi mon ne nos
        notre nous on ou où par pas pour pourquoi qu quand que quel quelle quels quelles qui sa sans
        se ses si son sont sur ta te tes toi ton tu un une vos votre vous y est-ce ça salut peut
        peux pouvez faut fait faites ai as a ont suis es êtes sommes était question svp
        """
    ),
    "es": _words(
        """
        a al algo como con cual cuál cuando cuándo de del donde dónde el él ella ellas ellos en es esa
        ese eso esta está están este esto estos gracias hay hola la las le les lo los me mi mis muy
        nada ni no nos nosotros o os para pero por porque qué que quien quién se si sí sin sobre son
        su sus también te ti tu tú tus un una uno unos usted ustedes vosotros y ya yo puedo puede
        pueden tiene tienen tienes tengo hace
        """
    ),
    "it": _words(
        """
        a ad al alla alle anche ancora avete c ce che chi ci come con cosa cui da dal dalla dei del
        della delle di dove e è ed gli ha hanno ho i il in io la le lei li lo loro lui ma mi mia mio
        ne nei nel nella no noi non o per perché più qual quale quando questa questo se si sì siete
        sono su sua suo ti tu tua tuo un una uno vi voi ciao grazie potete può posso
        """
    ),
    "nl": _words(
        """
        aan al alle als ben bij dan dat de der deze die dit doe doen door dus een en er ge geen had
        heb hebben heeft het hier hij hoe hun ik in is ja je jij jullie kan kunnen kunt maar me meer
        men met mij mijn moet na naar niet nog nu of om omdat ons onze ook op over te tot u uit uw
        van veel voor waar waarom wanneer wat we wel welk welke werd wie wij wil worden zal ze zelf
        zich zij zijn zo zou hallo hoi bedankt dank
        """
    ),
    "pt": _words(
        """
        a à ao aos as com como da das de do dos e é ela elas ele eles em entre era essa esse esta está
        estão este eu foi há isso isto já lhe mais mas me meu minha muito na nas não no nos nós o os
        ou para pela pelo por porque qual quando que quem se sem ser seu sua são também te tem têm
        tu um uma você vocês olá obrigado obrigada pode podem posso
        """
    ),
}
