package offerpage

import (
	"fmt"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// languages are the languages the page speaks, the first the default.
// Adding one means a column in texts and a pattern in moneyPattern.
var languages = []language.Tag{language.English, language.Spanish}

// texts are the page's texts by key, one per language in the order of
// languages; fmt verbs are the arguments the code passes (strings only, so
// the printer formats no number of its own).
var texts = map[string][2]string{
	"title.offer":       {"An offer for you", "Una oferta para ti"},
	"title.downsell":    {"Maybe this suits you better", "Quizá esto te convenga más"},
	"kind.upsell":       {"Upgrade", "Mejora tu plan"},
	"kind.cross_sell":   {"Recommended for you", "Recomendado para ti"},
	"kind.downsell":     {"A lighter option", "Una opción más ligera"},
	"change_plan":       {"Your plan changes from %s to %s.", "Tu plan cambia de %s a %s."},
	"gains":             {"What you get", "Lo que obtienes"},
	"loses":             {"What you give up", "Lo que dejas de tener"},
	"summary":           {"Summary", "Resumen"},
	"due_now":           {"Due now", "A pagar ahora"},
	"credit":            {"Credit for the unused part of your current plan", "Crédito por la parte no usada de tu plan actual"},
	"price":             {"Price", "Precio"},
	"card":              {"Charged to", "Se cargará a"},
	"card.value":        {"%s ending in %s", "%s terminada en %s"},
	"expires":           {"Offer valid until", "Oferta válida hasta"},
	"accept":            {"Accept and pay %s", "Aceptar y pagar %s"},
	"accept.free":       {"Accept", "Aceptar"},
	"accept.checkout":   {"Continue to checkout", "Continuar al pago"},
	"busy":              {"Processing…", "Procesando…"},
	"decline":           {"No, thanks", "No, gracias"},
	"checkout.note":     {"You will pay on a secure checkout page.", "Pagarás en una página de pago segura."},
	"charged.title":     {"Done: %s is yours", "Listo: ya tienes %s"},
	"charged.body":      {"We charged %s to your %s ending in %s.", "Hemos cargado %s a tu %s terminada en %s."},
	"charged.nothing":   {"Nothing was charged today.", "Hoy no se ha cobrado nada."},
	"pending.title":     {"Your payment is being processed", "Tu pago se está procesando"},
	"pending.body":      {"You will get a confirmation as soon as it goes through. There is no need to accept again.", "Recibirás una confirmación en cuanto se complete. No hace falta aceptar de nuevo."},
	"failed.title":      {"The payment did not go through", "El pago no se ha completado"},
	"failed.body":       {"Your card was not charged, and we will not try again.", "No se ha cargado nada en tu tarjeta y no lo volveremos a intentar."},
	"failed.update":     {"Please update your saved card.", "Actualiza tu tarjeta guardada."},
	"checkout.title":    {"One more step", "Un paso más"},
	"checkout.body":     {"Complete your purchase on the secure checkout page.", "Completa tu compra en la página de pago segura."},
	"checkout.link":     {"Go to the secure checkout", "Ir a la página de pago segura"},
	"declined.title":    {"Offer declined", "Oferta rechazada"},
	"declined.body":     {"No problem: we will not show you this offer again.", "Sin problema: no volveremos a mostrarte esta oferta."},
	"answered.title":    {"You already answered this offer", "Ya respondiste a esta oferta"},
	"answered.accepted": {"You accepted it; your payment is being processed.", "La aceptaste; tu pago se está procesando."},
	"answered.charged":  {"You accepted it and the payment went through.", "La aceptaste y el pago se completó."},
	"answered.declined": {"You declined it.", "La rechazaste."},
	"expired.title":     {"This offer has expired", "Esta oferta ha caducado"},
	"expired.body":      {"It was valid until %s.", "Era válida hasta el %s."},
	"notfound.title":    {"Offer not found", "Oferta no encontrada"},
	"notfound.body":     {"Check the link you followed, or ask for a new one.", "Revisa el enlace que has seguido o pide uno nuevo."},
	"badlink.title":     {"This link is not valid", "Este enlace no es válido"},
	"badlink.body":      {"It is incomplete or belongs to another offer. Use the link from your email or app.", "Está incompleto o es de otra oferta. Usa el enlace de tu correo o de la aplicación."},
	"unavailable.title": {"Please try again in a moment", "Inténtalo de nuevo en un momento"},
	"unavailable.body":  {"We could not reach our systems just now.", "Ahora mismo no hemos podido conectar con nuestros sistemas."},
	"date":              {"%[2]s %[1]s, %[3]s at %[4]s UTC", "%[1]s de %[2]s de %[3]s, %[4]s UTC"},
	"month.1":           {"January", "enero"},
	"month.2":           {"February", "febrero"},
	"month.3":           {"March", "marzo"},
	"month.4":           {"April", "abril"},
	"month.5":           {"May", "mayo"},
	"month.6":           {"June", "junio"},
	"month.7":           {"July", "julio"},
	"month.8":           {"August", "agosto"},
	"month.9":           {"September", "septiembre"},
	"month.10":          {"October", "octubre"},
	"month.11":          {"November", "noviembre"},
	"month.12":          {"December", "diciembre"},
	"widget.error":      {"Something went wrong. Please try again.", "Algo ha fallado. Inténtalo de nuevo."},
	"widget.answered":   {"You already answered this offer.", "Ya respondiste a esta oferta."},
	"widget.expired":    {"This offer has expired.", "Esta oferta ha caducado."},
	"widget.charged":    {"Done: the payment went through.", "Listo: el pago se ha completado."},
	"widget.declined":   {"Offer declined.", "Oferta rechazada."},
}

// newCatalog builds the message catalog of texts; English is the fallback.
func newCatalog() (catalog.Catalog, error) {
	b := catalog.NewBuilder(catalog.Fallback(languages[0]))
	for key, tr := range texts {
		for i, tag := range languages {
			if err := b.SetString(tag, key, tr[i]); err != nil {
				return nil, fmt.Errorf("text %s (%s): %w", key, tag, err)
			}
		}
	}
	return b, nil
}

// printer is the page's texts and numbers in one language.
type printer struct {
	tag language.Tag
	p   *message.Printer
}

func newPrinter(cat catalog.Catalog, tag language.Tag) printer {
	return printer{tag: tag, p: message.NewPrinter(tag, message.Catalog(cat))}
}

// T is the text of key with args.
func (p printer) T(key string, args ...any) string { return p.p.Sprintf(key, args...) }

// newNumberPrinter is a printer of numbers only, in tag's conventions.
func newNumberPrinter(tag language.Tag) *message.Printer { return message.NewPrinter(tag) }
