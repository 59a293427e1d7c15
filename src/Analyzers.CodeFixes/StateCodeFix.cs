using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Middleware.Analyzers.CodeFixes;

/// <summary>
/// MW0006: a state property gets a public setter (<c>{ get; private set; }</c> and <c>{ get; }</c> become
/// <c>{ get; set; }</c>); a public state field becomes a <c>{ get; set; }</c> property.
/// MW0008: a static field of a component becomes readonly (the compiler then shows any write to move into State).
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(StateCodeFix)), Shared]
public sealed class StateCodeFix : CodeFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds => ImmutableArray.Create(Rules.StateId, Rules.StaticFieldId);

    /// <inheritdoc />
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null) return;
        foreach (var diagnostic in context.Diagnostics)
        {
            var node = root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            diagnostic.Properties.TryGetValue(StateTypeAnalyzer.FixKey, out var fix);
            if (diagnostic.Id == Rules.StaticFieldId)
            {
                if (node.FirstAncestorOrSelf<FieldDeclarationSyntax>() is { Declaration.Variables.Count: 1 } field)
                    Register(context, diagnostic, root, field, "Make the field readonly", "MW0008:readonly", MakeReadOnly(field));
            }
            else if (fix == StateTypeAnalyzer.FixAddSetter && node.FirstAncestorOrSelf<PropertyDeclarationSyntax>() is { AccessorList: { } } property)
            {
                Register(context, diagnostic, root, property, "Give the property a public setter", "MW0006", WithPublicSetter(property));
            }
            else if (fix == StateTypeAnalyzer.FixFieldToProperty && node.FirstAncestorOrSelf<FieldDeclarationSyntax>() is { Declaration.Variables.Count: 1 } field)
            {
                Register(context, diagnostic, root, field, "Make it a { get; set; } property", "MW0006", ToProperty(field));
            }
        }
    }

    private static void Register(CodeFixContext context, Diagnostic diagnostic, SyntaxNode root, SyntaxNode old, string title, string key, SyntaxNode replacement) =>
        context.RegisterCodeFix(CodeAction.Create(title, _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(old, replacement))), key), diagnostic);

    private static PropertyDeclarationSyntax WithPublicSetter(PropertyDeclarationSyntax property)
    {
        var accessors = property.AccessorList!;
        var setter = accessors.Accessors.FirstOrDefault(a => a.IsKind(SyntaxKind.SetAccessorDeclaration) || a.IsKind(SyntaxKind.InitAccessorDeclaration));
        if (setter is not null)
            return property.ReplaceNode(setter, setter.WithModifiers(default).WithLeadingTrivia(setter.Modifiers.FirstOrDefault().LeadingTrivia));
        var getter = accessors.Accessors.First();
        var set = SyntaxFactory.AccessorDeclaration(SyntaxKind.SetAccessorDeclaration).WithSemicolonToken(SyntaxFactory.Token(SyntaxKind.SemicolonToken))
            .WithLeadingTrivia(SyntaxFactory.Space);
        return property.WithAccessorList(accessors.WithAccessors(accessors.Accessors.Insert(accessors.Accessors.IndexOf(getter) + 1, set)));
    }

    private static PropertyDeclarationSyntax ToProperty(FieldDeclarationSyntax field)
    {
        var variable = field.Declaration.Variables[0];
        var accessors = SyntaxFactory.AccessorList(SyntaxFactory.List(new[]
        {
            SyntaxFactory.AccessorDeclaration(SyntaxKind.GetAccessorDeclaration).WithSemicolonToken(SyntaxFactory.Token(SyntaxKind.SemicolonToken)),
            SyntaxFactory.AccessorDeclaration(SyntaxKind.SetAccessorDeclaration).WithSemicolonToken(SyntaxFactory.Token(SyntaxKind.SemicolonToken)),
        }));
        var property = SyntaxFactory.PropertyDeclaration(field.AttributeLists, field.Modifiers, field.Declaration.Type, null, variable.Identifier.WithTrailingTrivia(), accessors.NormalizeWhitespace().WithLeadingTrivia(SyntaxFactory.Space)
            .WithTrailingTrivia(variable.Initializer is null ? field.SemicolonToken.TrailingTrivia : default(SyntaxTriviaList)), null, variable.Initializer is null ? default : variable.Initializer.WithLeadingTrivia(SyntaxFactory.Space), default);
        if (variable.Initializer is not null) property = property.WithSemicolonToken(field.SemicolonToken);
        return property.WithLeadingTrivia(field.GetLeadingTrivia());
    }

    private static FieldDeclarationSyntax MakeReadOnly(FieldDeclarationSyntax field)
    {
        var modifiers = field.Modifiers;
        var at = modifiers.IndexOf(SyntaxKind.StaticKeyword);
        return field.WithModifiers(modifiers.Insert(at + 1, SyntaxFactory.Token(SyntaxKind.ReadOnlyKeyword).WithTrailingTrivia(SyntaxFactory.Space)));
    }
}
